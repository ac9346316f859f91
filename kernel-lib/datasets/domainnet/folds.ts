/**
 * The reference's validation split (cvl/README.md; kernel-lib/docs/reference-code.md#domainnet-folds):
 *
 *   random.seed(42)
 *   for domain in ["clipart", "infograph", "painting", "quickdraw", "real", "sketch"]:
 *       domain_data = open(domain + '_train.txt').readlines()
 *       random.shuffle(domain_data)
 *       valid = domain_data[0:int(len(domain_data)*0.2)]; train = domain_data[int(len(domain_data)*0.2):]
 *       write "".join(train) → <domain>_train_fold.txt, "".join(valid) → <domain>_valid_fold.txt
 *
 * reproduced with PythonRandom, so the fold files written here are the bytes
 * the snippet writes (Python 3.11, Linux) for a list whose lines all end in a
 * newline. The shuffled elements are readlines()'s: CRLF and CR become "\n"
 * (text mode), blank lines are elements too. One deliberate difference: if the
 * list's last line has no newline, Python glues it to whichever line follows
 * it after the shuffle (a corrupt line); here it gets its "\n". The
 * permutation is the same either way.
 *
 * All domains draw from ONE seeded stream in the order above, so domain k's
 * folds depend on the line counts of the domains before it. Making folds for a
 * subset therefore still walks the earlier domains (only their line counts are
 * needed: from `<domain>_train.txt`, or from existing fold files).
 */
import * as fs from 'fs';
import { PythonRandom } from '../../util/python-random';
import { DOMAINS, layoutHelp, listFiles, resolveDomains } from './layout';
import { writeFileAtomicSync } from '../../io/atomic';

export interface FoldOptions {
  /** domains whose fold files to make (default: all six) */
  domains?: readonly string[];
  /** `random.seed(seed)` (default 42) */
  seed?: number;
  /** the first `int(n · validFraction)` shuffled lines are validation (default 0.2) */
  validFraction?: number;
}

/** One domain's fold state: what is on disk and what the reference split gives. */
export interface DomainFolds {
  domain: string;
  trainList: string;
  trainFold: string;
  validFold: string;
  /** number of readlines() elements that were shuffled */
  lines: number;
  /** the reference split's file contents; null when `<domain>_train.txt` is absent (counts taken from the fold files) */
  computed: { valid: string; train: string; validCount: number; trainCount: number } | null;
  /** the fold files' contents on disk (null = absent) */
  onDisk: { valid: string | null; train: string | null };
}

export interface FoldSummary {
  domain: string;
  trainFold: string;
  validFold: string;
  lines: number;
  valid: number;
  train: number;
  /** 'written': made now; 'existing': the fold files were already there and were used as they are */
  source: 'written' | 'existing';
}

/** Python's `f.readlines()` in text mode: universal newlines, every element keeps its "\n" (the last may lack it). */
export function pythonReadlines(text: string): string[] {
  const t = text.replace(/\r\n?/g, '\n');
  const out: string[] = [];
  let start = 0;
  for (;;) {
    const i = t.indexOf('\n', start);
    if (i < 0) break;
    out.push(t.slice(start, i + 1));
    start = i + 1;
  }
  if (start < t.length) out.push(t.slice(start));
  return out;
}

function readIfExists(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
}

function checkOptions(opts: FoldOptions, where: string): { seed: number; validFraction: number } {
  const seed = opts.seed ?? 42;
  const validFraction = opts.validFraction ?? 0.2;
  if (!Number.isSafeInteger(seed)) throw new Error(`${where}: option 'seed' must be an integer (random.seed(42) in the reference); got ${seed}`);
  if (!(validFraction >= 0 && validFraction <= 1)) {
    throw new Error(`${where}: option 'validFraction' must be in [0, 1] (0.2 in the reference); got ${validFraction}`);
  }
  return { seed, validFraction };
}

/**
 * Computes the reference split for `domains` without writing anything, and
 * reads what fold files already exist. Throws when a domain's train list and
 * fold files are both absent (for a requested domain, or for an earlier one
 * whose line count the shared random stream needs).
 */
export function computeFolds(root: string, opts: FoldOptions = {}): DomainFolds[] {
  const where = 'DomainNet folds';
  const targets = resolveDomains(opts.domains, where);
  const { seed, validFraction } = checkOptions(opts, where);
  const last = Math.max(...targets.map((d) => DOMAINS.indexOf(d)));
  const rng = new PythonRandom(seed);
  const out: DomainFolds[] = [];
  for (let k = 0; k <= last; k++) {
    const domain = DOMAINS[k];
    const f = listFiles(root, domain);
    const isTarget = targets.includes(domain);
    const trainText = readIfExists(f.train);
    const onDisk = { valid: readIfExists(f.validFold), train: readIfExists(f.trainFold) };
    if (trainText !== null) {
      const lines = pythonReadlines(trainText);
      rng.shuffle(lines);
      if (!isTarget) continue;
      const cut = Math.trunc(lines.length * validFraction); // Python int(len(x) * 0.2): same double product, truncated
      const join = (xs: string[]) => xs.map((l) => (l.endsWith('\n') ? l : `${l}\n`)).join('');
      out.push({
        domain,
        trainList: f.train,
        trainFold: f.trainFold,
        validFold: f.validFold,
        lines: lines.length,
        computed: { valid: join(lines.slice(0, cut)), train: join(lines.slice(cut)), validCount: cut, trainCount: lines.length - cut },
        onDisk,
      });
    } else if (onDisk.valid !== null && onDisk.train !== null) {
      // Only the count matters for the shared stream: the shuffle's draws depend on the length alone.
      const n = pythonReadlines(onDisk.valid).length + pythonReadlines(onDisk.train).length;
      rng.shuffle(new Array<number>(n).fill(0));
      if (isTarget) out.push({ domain, trainList: f.train, trainFold: f.trainFold, validFold: f.validFold, lines: n, computed: null, onDisk });
    } else if (isTarget) {
      throw new Error(
        `DomainNet folds: ${f.train} not found, and the fold files ${f.trainFold} / ${f.validFold} are not both there either; ` +
          `one or the other is needed for domain '${domain}'.\n${layoutHelp(root)}`,
      );
    } else {
      const wanted = targets.filter((d) => DOMAINS.indexOf(d) > k);
      throw new Error(
        `DomainNet folds: cannot reproduce the reference split for ${wanted.join(', ')}: the reference draws every domain's shuffle ` +
          `from one random.seed(${seed}) stream in the order ${DOMAINS.join(', ')}, so the line count of '${domain}' is needed first, ` +
          `but neither ${f.train} nor both of its fold files exist.\n${layoutHelp(root)}`,
      );
    }
  }
  return out;
}

/**
 * Makes `<domain>_train_fold.txt` / `<domain>_valid_fold.txt` as the reference
 * README does. Fold files that already exist are used as they are (never
 * rewritten). If only one of a domain's two fold files exists, the other is
 * written only when the existing one is exactly what the split gives.
 */
export function makeFolds(root: string, opts: FoldOptions = {}): FoldSummary[] {
  const summaries: FoldSummary[] = [];
  for (const d of computeFolds(root, opts)) {
    const base = { domain: d.domain, trainFold: d.trainFold, validFold: d.validFold, lines: d.lines };
    if (d.onDisk.valid !== null && d.onDisk.train !== null) {
      summaries.push({ ...base, valid: pythonReadlines(d.onDisk.valid).length, train: pythonReadlines(d.onDisk.train).length, source: 'existing' });
      continue;
    }
    const c = d.computed;
    if (c === null) throw new Error(`DomainNet folds: internal error: no split computed for '${d.domain}'`); // computeFolds guarantees it
    for (const [have, haveFile, wantText, otherFile] of [
      [d.onDisk.valid, d.validFold, c.valid, d.trainFold],
      [d.onDisk.train, d.trainFold, c.train, d.validFold],
    ] as const) {
      if (have !== null && have !== wantText) {
        throw new Error(
          `DomainNet folds: ${haveFile} exists but ${otherFile} does not, and ${haveFile} is not what the reference split ` +
            `(seed ${opts.seed ?? 42}, validFraction ${opts.validFraction ?? 0.2}) gives; delete it to make both, or provide ${otherFile}.`,
        );
      }
    }
    if (d.onDisk.train === null) writeFileAtomicSync(d.trainFold, c.train);
    if (d.onDisk.valid === null) writeFileAtomicSync(d.validFold, c.valid);
    summaries.push({ ...base, valid: c.validCount, train: c.trainCount, source: 'written' });
  }
  return summaries;
}
