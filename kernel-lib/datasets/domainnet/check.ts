/**
 * `checkDomainNet`: is a DomainNet root complete and readable, as the
 * reference would read it? Per domain and split: images listed, classes seen,
 * missing and unreadable images; missing folders and list files; list lines
 * that are malformed or carry an out-of-range label (file:line); empty lists
 * and splits without examples (a domain that would silently drop out of
 * training); whether the fold files are the reference's seed-42 split.
 * Writes nothing: absent fold files are computed in memory.
 *
 * Images are checked by header (sharp's metadata()) and end marker by
 * default: a file cut short (an interrupted download) is reported where its
 * format says how it ends or how long it is (PNG's IEND chunk, JPEG's EOI
 * marker, GIF's trailer, the sizes in WebP's RIFF and BMP's headers);
 * `decode` decodes every image fully (what training does).
 */
import * as fs from 'fs';
import * as path from 'path';
import { cappedList as capped, formatTable } from '../../util/table';
import { checkNumClasses, listFiles, resolveDomains } from './layout';
import type { DomainNetSplit } from './layout';
import { computeFolds } from './folds';
import type { DomainFolds } from './folds';
import { formatProblem, parseListText } from './lists';
import type { ListEntry, ListProblem } from './lists';

export interface CheckOptions {
  /** fully decode every image (default: read the header with sharp's metadata()) */
  decode?: boolean;
  domains?: readonly string[];
  numClasses?: number;
  /** images checked at once (default 16) */
  concurrency?: number;
  /** called as images are checked */
  onProgress?: (done: number, total: number) => void;
}

export interface SplitCheck {
  domain: string;
  split: DomainNetSplit;
  listFile: string;
  /** 'file': read from listFile; 'computed': fold files absent, the reference split computed in memory; 'unavailable': no list */
  source: 'file' | 'computed' | 'unavailable';
  images: number;
  classes: number;
  missing: number;
  unreadable: number;
}

export interface FoldCheck {
  domain: string;
  status: 'reference' | 'differs' | 'absent' | 'unverified' | 'error';
  detail: string;
}

export interface MissingFile {
  path: string;
  kind: 'root folder' | 'domain folder' | 'list file' | 'image';
  /** `list:line` for images */
  referencedBy?: string;
}

/** A split that holds no examples (its list is empty, or every line of it is bad). */
export interface EmptySplit {
  domain: string;
  split: DomainNetSplit;
  listFile: string;
  reason: string;
}

export interface UnreadableImage {
  path: string;
  referencedBy: string;
  error: string;
}

export interface CheckReport {
  root: string;
  decode: boolean;
  numClasses: number;
  domains: string[];
  splits: SplitCheck[];
  folds: FoldCheck[];
  missingFiles: MissingFile[];
  unreadableImages: UnreadableImage[];
  badLines: ListProblem[];
  emptySplits: EmptySplit[];
  /** domains with no examples in any split */
  emptyDomains: string[];
  /** other errors (e.g. folds that cannot be computed) */
  errors: string[];
  /** missing files + unreadable images + bad lines + empty splits + errors */
  problems: number;
  ok: boolean;
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function readText(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

export async function checkDomainNet(root: string, opts: CheckOptions = {}): Promise<CheckReport> {
  const where = 'checkDomainNet';
  const domains = resolveDomains(opts.domains, where);
  const numClasses = checkNumClasses(opts.numClasses, where);
  const concurrency = opts.concurrency ?? 16;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`${where}: option 'concurrency' must be a positive integer; got ${concurrency}`);
  const absRoot = path.resolve(root);
  const report: CheckReport = {
    root: absRoot,
    decode: opts.decode === true,
    numClasses,
    domains: [...domains],
    splits: [],
    folds: [],
    missingFiles: [],
    unreadableImages: [],
    badLines: [],
    emptySplits: [],
    emptyDomains: [],
    errors: [],
    problems: 0,
    ok: false,
  };
  if (!isDir(absRoot)) {
    report.missingFiles.push({ path: absRoot, kind: 'root folder' });
    return finish(report);
  }

  // image path → where it is first listed; and each split's entries
  const images = new Map<string, string>();
  const splitEntries: { check: SplitCheck; entries: ListEntry[] }[] = [];
  const readListFile = (file: string): ListEntry[] | null => {
    const text = readText(file);
    if (text === null) {
      report.missingFiles.push({ path: file, kind: 'list file' });
      return null;
    }
    const parsed = parseListText(text, file, numClasses);
    report.badLines.push(...parsed.problems);
    for (const e of parsed.entries) {
      const p = path.join(absRoot, e.relPath);
      if (!images.has(p)) images.set(p, `${file}:${e.line}`);
    }
    return parsed.entries;
  };
  const addSplit = (domain: string, split: DomainNetSplit, listFile: string, source: SplitCheck['source'], entries: ListEntry[] | null) => {
    const check: SplitCheck = { domain, split, listFile, source, images: entries?.length ?? 0, classes: new Set(entries?.map((e) => e.label)).size, missing: 0, unreadable: 0 };
    report.splits.push(check);
    if (entries !== null && entries.length === 0) {
      const lines = source === 'file' ? readText(listFile) : null;
      const reason =
        source === 'computed'
          ? `no examples: the split computed from ${listFiles(absRoot, domain).train} is empty`
          : lines !== null && lines.trim() === ''
            ? 'the list file is empty'
            : 'no examples: every line of the list is bad (see the bad list lines)';
      report.emptySplits.push({ domain, split, listFile, reason });
    }
    splitEntries.push({ check, entries: entries ?? [] });
  };

  for (const domain of domains) {
    const f = listFiles(absRoot, domain);
    if (!isDir(path.join(absRoot, domain))) report.missingFiles.push({ path: path.join(absRoot, domain), kind: 'domain folder' });
    readListFile(f.train); // the official list: its own bad lines and images

    let folds: DomainFolds | null = null;
    let unverifiedBecause = '';
    try {
      folds = computeFolds(absRoot, { domains: [domain] })[0];
    } catch (e) {
      const message = (e as Error).message.split('\n')[0];
      const onDisk = { valid: readText(f.validFold), train: readText(f.trainFold) };
      if (onDisk.valid !== null && onDisk.train !== null) {
        // the fold files are usable as they are; only the comparison with the reference split is impossible
        folds = { domain, trainList: f.train, trainFold: f.trainFold, validFold: f.validFold, lines: 0, computed: null, onDisk };
        unverifiedBecause = message;
      } else {
        report.folds.push({ domain, status: 'error', detail: message });
        report.errors.push(message);
      }
    }
    if (folds) {
      const { onDisk, computed } = folds;
      for (const [split, file, disk, mem] of [
        ['train', f.trainFold, onDisk.train, computed?.train ?? null],
        ['valid', f.validFold, onDisk.valid, computed?.valid ?? null],
      ] as const) {
        if (disk !== null) {
          addSplit(domain, split, file, 'file', readListFile(file));
        } else if (mem !== null) {
          // the train list's bad lines are reported against the train list already
          addSplit(domain, split, file, 'computed', parseListText(mem, file, numClasses).entries);
        } else {
          addSplit(domain, split, file, 'unavailable', null);
        }
      }
      if (onDisk.train !== null && onDisk.valid !== null) {
        if (computed === null) {
          report.folds.push({
            domain,
            status: 'unverified',
            detail: `fold files used as they are; they cannot be compared with the seed-42 split: ${unverifiedBecause || `${f.train} is absent`}`,
          });
        } else if (computed.train === onDisk.train && computed.valid === onDisk.valid) {
          report.folds.push({ domain, status: 'reference', detail: 'fold files equal the reference seed-42 split' });
        } else {
          report.folds.push({ domain, status: 'differs', detail: 'fold files differ from the reference seed-42 split (they are used as they are)' });
        }
      } else if (onDisk.train !== null || onDisk.valid !== null) {
        const present = onDisk.train !== null ? f.trainFold : f.validFold;
        const absent = onDisk.train !== null ? f.validFold : f.trainFold;
        report.folds.push({ domain, status: 'error', detail: `${present} exists without ${absent}` });
        report.errors.push(`${present} exists without ${absent}: provide both fold files, or delete it to have both made`);
      } else {
        report.folds.push({ domain, status: 'absent', detail: 'fold files absent: the seed-42 split is computed in memory (loading a split writes them)' });
      }
    } else {
      addSplit(domain, 'train', f.trainFold, 'unavailable', null);
      addSplit(domain, 'valid', f.validFold, 'unavailable', null);
    }
    const testEntries = readListFile(f.test);
    addSplit(domain, 'test', f.test, testEntries === null ? 'unavailable' : 'file', testEntries);
    const own = report.splits.filter((x) => x.domain === domain);
    if (own.every((x) => x.images === 0)) report.emptyDomains.push(domain);
  }

  // images: existence, then header (or full decode)
  const sharp = (await import('sharp')).default;
  const status = new Map<string, 'missing' | 'unreadable' | 'ok'>();
  const queue = [...images.entries()];
  let next = 0;
  let done = 0;
  const checkOne = async (p: string, ref: string): Promise<void> => {
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(p);
    } catch {
      report.missingFiles.push({ path: p, kind: 'image', referencedBy: ref });
      status.set(p, 'missing');
      return;
    }
    try {
      if (!st.isFile()) throw new Error('not a regular file');
      if (opts.decode) {
        await sharp(p).raw().toBuffer();
      } else {
        const m = await sharp(p).metadata();
        if (!m.width || !m.height) throw new Error('no image size in the header');
        const cut = await truncation(p, st.size);
        if (cut) throw new Error(`${cut} (--decode decodes every image fully)`);
      }
      status.set(p, 'ok');
    } catch (e) {
      report.unreadableImages.push({ path: p, referencedBy: ref, error: (e as Error).message });
      status.set(p, 'unreadable');
    }
  };
  const worker = async () => {
    while (next < queue.length) {
      const [p, ref] = queue[next++];
      await checkOne(p, ref);
      done++;
      if (opts.onProgress && (done % 1000 === 0 || done === images.size)) opts.onProgress(done, images.size);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, images.size)) }, worker));
  report.missingFiles.sort((a, b) => a.path.localeCompare(b.path));
  report.unreadableImages.sort((a, b) => a.path.localeCompare(b.path));

  for (const { check, entries } of splitEntries) {
    for (const e of entries) {
      const s = status.get(path.join(absRoot, e.relPath));
      if (s === 'missing') check.missing++;
      else if (s === 'unreadable') check.unreadable++;
    }
  }
  return finish(report);
}

/** The tail a file's end marker is looked for in (decoders accept trailing bytes after it). */
const TAIL = 4096;

/**
 * Whether a file is cut short, where its format says so without decoding:
 * PNG ends with an IEND chunk, JPEG with an EOI marker (FF D9), GIF with a
 * 0x3B trailer; WebP's RIFF header and BMP's file header give the file's
 * length. Returns the problem, or null (also for other formats).
 */
export async function truncation(file: string, size: number): Promise<string | null> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const head = Buffer.alloc(Math.min(size, 16));
    await fh.read(head, 0, head.length, 0);
    const tail = Buffer.alloc(Math.min(size, TAIL));
    await fh.read(tail, 0, tail.length, size - tail.length);
    const ends = `the file ends after ${size} bytes`;
    if (head.length >= 8 && head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
      return tail.includes(Buffer.from('IEND', 'latin1')) ? null : `truncated PNG: no IEND chunk at its end (${ends})`;
    }
    if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) {
      return tail.includes(Buffer.from([0xff, 0xd9])) ? null : `truncated JPEG: no end-of-image marker (FF D9) at its end (${ends})`;
    }
    if (head.length >= 6 && /^GIF8[79]a$/.test(head.subarray(0, 6).toString('latin1'))) {
      let i = tail.length - 1;
      while (i >= 0 && tail[i] === 0) i--;
      return i >= 0 && tail[i] === 0x3b ? null : `truncated GIF: no trailer (0x3B) at its end (${ends})`;
    }
    if (head.length >= 12 && head.subarray(0, 4).toString('latin1') === 'RIFF' && head.subarray(8, 12).toString('latin1') === 'WEBP') {
      const declared = head.readUInt32LE(4) + 8;
      return size < declared ? `truncated WebP: its header says ${declared} bytes (${ends})` : null;
    }
    if (head.length >= 6 && head.subarray(0, 2).toString('latin1') === 'BM') {
      const declared = head.readUInt32LE(2);
      return size < declared ? `truncated BMP: its header says ${declared} bytes (${ends})` : null;
    }
    return null;
  } finally {
    await fh.close();
  }
}

function finish(report: CheckReport): CheckReport {
  report.problems = report.missingFiles.length + report.unreadableImages.length + report.badLines.length + report.emptySplits.length + report.errors.length;
  report.ok = report.problems === 0;
  return report;
}

/** The report as text: a per-domain/split table, fold status, then every problem (capped at 20 per kind). */
export function formatCheckReport(r: CheckReport): string {
  const rel = (p: string) => (p.startsWith(r.root + path.sep) ? p.slice(r.root.length + 1) : p);
  const rows = r.splits.map((s) => [
    s.domain,
    s.split,
    `${rel(s.listFile)}${s.source === 'computed' ? ' (in memory)' : s.source === 'unavailable' ? ' (unavailable)' : ''}`,
    String(s.images),
    String(s.classes),
    String(s.missing),
    String(s.unreadable),
  ]);
  const out = [
    `DomainNet at ${r.root} (${r.numClasses} classes; images checked by ${r.decode ? 'full decode' : 'header and end marker (--decode: full decode)'})`,
    '',
    formatTable(['domain', 'split', 'list', 'images', 'classes', 'missing', 'unreadable'], rows),
  ];
  if (r.folds.length) {
    out.push('', 'folds:');
    for (const f of r.folds) out.push(`  ${f.domain.padEnd(9)}  ${f.status.padEnd(10)}  ${f.detail}`);
  }
  out.push(
    ...capped('missing files', r.missingFiles, (m) => `${m.kind.padEnd(13)} ${m.path}${m.referencedBy ? `  (listed at ${m.referencedBy})` : ''}`),
    ...capped('unreadable images', r.unreadableImages, (u) => `${u.path}  (listed at ${u.referencedBy}): ${u.error}`),
    ...capped('bad list lines', r.badLines, formatProblem),
    ...capped('empty splits', r.emptySplits, (e) => `${e.domain.padEnd(9)} ${e.split.padEnd(5)}  ${e.listFile}: ${e.reason}`),
    ...(r.emptyDomains.length ? ['', `domains without any example (training would leave them out): ${r.emptyDomains.join(', ')}`] : []),
    ...capped('errors', r.errors, (e) => e),
    '',
    r.ok ? 'OK: no problems found.' : `${r.problems} problem${r.problems === 1 ? '' : 's'} found.`,
  );
  return out.join('\n');
}
