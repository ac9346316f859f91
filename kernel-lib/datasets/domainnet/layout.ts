/**
 * DomainNet on disk, as the reference reads it (kernel-lib/docs/reference-code.md#domainnet-files,
 * #task-and-domain-ids).
 *
 *   <root>/<domain>/<class>/<image>          images (the official download has .jpg; the reference README shows .png)
 *   <root>/<domain>_train.txt                official lists, one `<domain>/<class>/<file> <label>` per line
 *   <root>/<domain>_test.txt
 *   <root>/<domain>_train_fold.txt           the reference's validation split of <domain>_train.txt
 *   <root>/<domain>_valid_fold.txt           (made here with the README's seed-42 snippet when absent)
 *
 * The domain id is the position in DOMAINS (clipart=0 … sketch=5), whatever
 * subset of domains is loaded (`domain_lbl` in cvl/src/data/DatasetReader.py).
 */
import * as path from 'path';

export const DOMAINS = ['clipart', 'infograph', 'painting', 'quickdraw', 'real', 'sketch'] as const;
export type DomainName = (typeof DOMAINS)[number];
export const NUM_CLASSES = 345;

export type DomainNetSplit = 'train' | 'valid' | 'test';
export const SPLITS: readonly DomainNetSplit[] = ['train', 'valid', 'test'];

export interface DomainNetSample {
  /** absolute path of the image */
  path: string;
  /** the path as written in the list file, relative to the root */
  relPath: string;
  /** class id in [0, numClasses) */
  label: number;
  /** domain id: index in DOMAINS */
  domain: number;
  /** the list file the sample was read from, and its 1-based line (for messages) */
  list?: string;
  line?: number;
}

/** The list files of one domain. */
export function listFiles(root: string, domain: string) {
  return {
    train: path.join(root, `${domain}_train.txt`),
    test: path.join(root, `${domain}_test.txt`),
    trainFold: path.join(root, `${domain}_train_fold.txt`),
    validFold: path.join(root, `${domain}_valid_fold.txt`),
  };
}

/** The list file a split is read from: train → train fold, valid → valid fold, test → official test list. */
export function splitListFile(root: string, domain: string, split: DomainNetSplit): string {
  const f = listFiles(root, domain);
  if (split === 'train') return f.trainFold;
  if (split === 'valid') return f.validFold;
  if (split === 'test') return f.test;
  throw new Error(`DomainNet: unknown split '${split as string}'; expected one of ${SPLITS.join(', ')}`);
}

/** What a DomainNet root should look like, for error messages. */
export function layoutHelp(root: string): string {
  return [
    `A DomainNet root (${root}) should look like:`,
    `  ${path.join(root, 'clipart')}/<class>/<image>.jpg|png   one folder per domain: ${DOMAINS.join(', ')}`,
    `  ${path.join(root, 'clipart_train.txt')}, clipart_test.txt   official lists, each line "clipart/<class>/<file> <label>"`,
    `  ${path.join(root, 'clipart_train_fold.txt')}, clipart_valid_fold.txt   optional: made from <domain>_train.txt by the reference's seed-42 split when absent`,
    '  … and likewise for every other domain. Download: http://ai.bu.edu/M3SDA/',
  ].join('\n');
}

/** Validates a list of domain names (default: all six, in the reference order). */
export function resolveDomains(domains: readonly string[] | undefined, where: string): DomainName[] {
  if (domains === undefined) return [...DOMAINS];
  if (!Array.isArray(domains) || domains.length === 0) {
    throw new Error(`${where}: option 'domains' must be a non-empty array of ${DOMAINS.join(', ')}; got ${JSON.stringify(domains)}`);
  }
  const seen = new Set<string>();
  for (const d of domains) {
    if (!(DOMAINS as readonly string[]).includes(d)) {
      throw new Error(`${where}: option 'domains' has unknown domain ${JSON.stringify(d)}; expected some of ${DOMAINS.join(', ')}`);
    }
    if (seen.has(d)) throw new Error(`${where}: option 'domains' lists ${JSON.stringify(d)} twice`);
    seen.add(d);
  }
  return domains as DomainName[];
}

export function domainIndex(domain: string): number {
  const i = (DOMAINS as readonly string[]).indexOf(domain);
  if (i < 0) throw new Error(`DomainNet: unknown domain ${JSON.stringify(domain)}; expected one of ${DOMAINS.join(', ')}`);
  return i;
}

export function checkNumClasses(numClasses: number | undefined, where: string): number {
  const n = numClasses ?? NUM_CLASSES;
  if (!Number.isInteger(n) || n <= 0) {
    throw new Error(`${where}: option 'numClasses' must be a positive integer (DomainNet has ${NUM_CLASSES}); got ${n}`);
  }
  return n;
}
