/**
 * DomainNet folds without writing into the dataset folder.
 *
 * The user's data folder is read-only to a run. Fold files already in the
 * dataset folder (`<domain>_train_fold.txt` / `_valid_fold.txt`, both present)
 * are used as they are, as the reference does — with a warning naming the
 * domain when they are not the reference split of the current
 * `<domain>_train.txt` (the list changed since they were made, or they were
 * made otherwise). Missing folds are made (folds.ts, bit for bit the
 * reference's split) into a cache folder keyed by a hash of the lists they
 * come from and the split's seed and fraction:
 *
 *   <cache>/domainnet-folds/<root name>-<hash>/<domain>_{train,valid}_fold.txt + manifest.json
 *
 * so changed lists get new folds (never stale ones) and a failed run leaves
 * nothing behind that a fixed list trips over. The manifest records the root,
 * seed, fraction and each list's sha256; a record per root of the lists last
 * used lets a later run name the lists that changed since. `<cache>` is
 * `$SMEAR_CACHE_DIR`, else `data/cache/` of the repository.
 */
import * as fs from 'fs';
import * as path from 'path';
import { createHash } from 'crypto';
import { DOMAINS, listFiles } from './layout';
import { computeFolds } from './folds';
import { writeFileAtomicSync } from '../../io/atomic';
import { makeDir } from '../../io/dirs';

/** The cache root: $SMEAR_CACHE_DIR, else <repository>/data/cache. */
export function cacheRoot(): string {
  return process.env.SMEAR_CACHE_DIR ? path.resolve(process.env.SMEAR_CACHE_DIR) : path.resolve(__dirname, '..', '..', '..', 'data', 'cache');
}

export interface FoldCacheManifest {
  format: 'smear-ts domainnet-folds-1';
  root: string;
  seed: number;
  validFraction: number;
  /** sha256 of each domain's <domain>_train.txt (null: absent) */
  lists: Record<string, string | null>;
  created: string;
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function listHashes(root: string): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const d of DOMAINS) {
    const f = listFiles(root, d).train;
    out[d] = fs.existsSync(f) ? sha(fs.readFileSync(f)) : null;
  }
  return out;
}

/** The cache folder of `root`'s folds for its current lists. */
export function foldCacheDir(root: string, opts: { seed?: number; validFraction?: number } = {}): { dir: string; manifest: FoldCacheManifest } {
  const abs = path.resolve(root);
  const seed = opts.seed ?? 42;
  const validFraction = opts.validFraction ?? 0.2;
  const lists = listHashes(abs);
  const key = sha(JSON.stringify({ seed, validFraction, lists })).slice(0, 16);
  const name = `${path.basename(abs).replace(/[^A-Za-z0-9._-]+/g, '_') || 'root'}-${key}`;
  return { dir: path.join(cacheRoot(), 'domainnet-folds', name), manifest: { format: 'smear-ts domainnet-folds-1', root: abs, seed, validFraction, lists, created: new Date().toISOString() } };
}

/**
 * The lists that changed since folds were last used for this root (null the first time);
 * records the current ones. Kept per root in `<cache>/domainnet-folds/last-used-<hash of the root's path>.json`.
 */
function changedSinceLastUse(m: FoldCacheManifest, dir: string): string[] | null {
  const record = path.join(cacheRoot(), 'domainnet-folds', `last-used-${sha(m.root).slice(0, 16)}.json`);
  let last: { lists: Record<string, string | null> } | null = null;
  try {
    last = JSON.parse(fs.readFileSync(record, 'utf8'));
  } catch {
    /* first use (or an unreadable record: rewritten below) */
  }
  const changed = last ? DOMAINS.filter((d) => last!.lists?.[d] !== m.lists[d]).map((d) => listFiles(m.root, d).train) : null;
  if (!last || (changed && changed.length > 0)) {
    makeDir(path.dirname(record), 'the DomainNet fold cache');
    writeFileAtomicSync(record, `${JSON.stringify({ root: m.root, seed: m.seed, validFraction: m.validFraction, lists: m.lists, folds: dir }, null, 2)}\n`);
  }
  return changed;
}

const warned = new Set<string>();

export interface FoldFiles {
  /** domain → its train and valid fold files (in the dataset folder, or in the cache) */
  files: Record<string, { trainFold: string; validFold: string; where: 'dataset' | 'cache' }>;
  /** what a person should know (stale dataset folds, changed lists, folds made) */
  notes: string[];
}

/**
 * The fold files to read for `domains` of `root`: the dataset folder's when both are
 * there, else the cache's (made now when missing). Writes nothing into `root`.
 */
export function resolveFoldFiles(root: string, domains: readonly string[], opts: { seed?: number; validFraction?: number } = {}): FoldFiles {
  const abs = path.resolve(root);
  const files: FoldFiles['files'] = {};
  const notes: string[] = [];
  const need: string[] = [];
  for (const d of domains) {
    const f = listFiles(abs, d);
    if (fs.existsSync(f.trainFold) && fs.existsSync(f.validFold)) files[d] = { trainFold: f.trainFold, validFold: f.validFold, where: 'dataset' };
    else need.push(d);
  }
  // Dataset-folder folds are used as they are; say so when they are not the current lists' reference split.
  const inDataset = domains.filter((d) => files[d]?.where === 'dataset');
  if (inDataset.length > 0) {
    try {
      for (const c of computeFolds(abs, { ...opts, domains: inDataset })) {
        if (!c.computed) continue;
        if (c.onDisk.train !== c.computed.train || c.onDisk.valid !== c.computed.valid) {
          const msg = `DomainNet folds: ${c.trainFold} / ${c.validFold} are not the reference split of the current ${c.trainList} (the list changed since they were made, or they were made otherwise); they are used as they are, as the reference does. Remove them to use folds of the current list.`;
          notes.push(msg);
        }
      }
    } catch {
      /* an earlier domain's counts are unavailable: the check is skipped, the files are used as they are */
    }
  }
  if (need.length > 0) {
    const { dir, manifest } = foldCacheDir(abs, opts);
    const missing = need.filter((d) => !(fs.existsSync(path.join(dir, `${d}_train_fold.txt`)) && fs.existsSync(path.join(dir, `${d}_valid_fold.txt`))));
    if (missing.length > 0) {
      const computed = computeFolds(abs, { ...opts, domains: missing }); // throws naming the list when it cannot
      makeDir(dir, 'the DomainNet fold cache');
      for (const c of computed) {
        writeFileAtomicSync(path.join(dir, `${c.domain}_train_fold.txt`), c.computed!.train);
        writeFileAtomicSync(path.join(dir, `${c.domain}_valid_fold.txt`), c.computed!.valid);
      }
      if (!fs.existsSync(path.join(dir, 'manifest.json'))) writeFileAtomicSync(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
      notes.push(`DomainNet folds for ${missing.join(', ')} made in ${dir} (the dataset folder is not written)`);
    }
    const changed = changedSinceLastUse(manifest, dir);
    if (changed && changed.length > 0) notes.push(`DomainNet lists changed since folds were last made for ${abs}: ${changed.join(', ')}; the folds of the current lists are in ${dir}`);
    for (const d of need) files[d] = { trainFold: path.join(dir, `${d}_train_fold.txt`), validFold: path.join(dir, `${d}_valid_fold.txt`), where: 'cache' };
  }
  return { files, notes };
}

/** `resolveFoldFiles`, each note said once per process on stderr (unless SMEAR_QUIET). */
export function foldFilesFor(root: string, domains: readonly string[], opts: { seed?: number; validFraction?: number } = {}): FoldFiles['files'] {
  const { files, notes } = resolveFoldFiles(root, domains, opts);
  for (const n of notes) {
    if (warned.has(n)) continue;
    warned.add(n);
    if (!process.env.SMEAR_QUIET) process.stderr.write(`[smear] ${n}\n`);
  }
  return files;
}
