/**
 * Loads a DomainNet split as samples (path, label, domain id), the way the
 * reference's cvl/src/data/DatasetReader.py does: train = `<domain>_train_fold.txt`,
 * valid = `<domain>_valid_fold.txt`, test = `<domain>_test.txt`, domains in the
 * order given (default all six), domain id = index in DOMAINS.
 *
 * Fold files in the dataset folder are used as they are; missing ones are made
 * into the fold cache (fold-cache.ts), never into the dataset folder unless
 * `writeFoldsToDataset` asks for it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { checkNumClasses, domainIndex, layoutHelp, listFiles, resolveDomains, splitListFile, SPLITS } from './layout';
import type { DomainNetSample, DomainNetSplit } from './layout';
import { makeFolds } from './folds';
import { foldFilesFor } from './fold-cache';
import { readList } from './lists';

export interface LoadDomainNetOptions {
  /** domains to load, in order (default: all six) */
  domains?: readonly string[];
  /** labels must lie in [0, numClasses) (default 345) */
  numClasses?: number;
  /** for train/valid, make absent fold files with the reference split (default true), in the fold cache */
  makeFolds?: boolean;
  /** make absent fold files in the dataset folder itself, as the reference's README does (default false: the fold cache) */
  writeFoldsToDataset?: boolean;
  /** passed to makeFolds (defaults 42 and 0.2, as in the reference) */
  seed?: number;
  validFraction?: number;
}

function assertDir(p: string, what: string, root: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    throw new Error(`DomainNet: ${what} ${p} does not exist.\n${layoutHelp(root)}`);
  }
  if (!st.isDirectory()) throw new Error(`DomainNet: ${what} ${p} is not a directory.\n${layoutHelp(root)}`);
}

export function loadDomainNetSplit(root: string, split: DomainNetSplit, opts: LoadDomainNetOptions = {}): DomainNetSample[] {
  const where = 'loadDomainNetSplit';
  if (!SPLITS.includes(split)) throw new Error(`${where}: split must be one of ${SPLITS.join(', ')}; got ${JSON.stringify(split)}`);
  const domains = resolveDomains(opts.domains, where);
  const numClasses = checkNumClasses(opts.numClasses, where);
  const absRoot = path.resolve(root);
  assertDir(absRoot, 'root folder', absRoot);
  for (const d of domains) assertDir(path.join(absRoot, d), `domain folder for '${d}'`, absRoot);

  let folds: Record<string, { trainFold: string; validFold: string }> = {};
  if (split !== 'test') {
    const missing = domains.filter((d) => {
      const f = listFiles(absRoot, d);
      return !fs.existsSync(f.trainFold) || !fs.existsSync(f.validFold);
    });
    if (missing.length > 0) {
      if (opts.makeFolds === false) {
        const f = listFiles(absRoot, missing[0]);
        throw new Error(`${where}: fold files ${f.trainFold} / ${f.validFold} are absent and option makeFolds is false.\n${layoutHelp(absRoot)}`);
      }
      if (opts.writeFoldsToDataset) makeFolds(absRoot, { domains: missing, seed: opts.seed, validFraction: opts.validFraction });
    }
    folds = foldFilesFor(absRoot, domains, { seed: opts.seed, validFraction: opts.validFraction });
  } else {
    for (const d of domains) {
      const f = listFiles(absRoot, d).test;
      if (!fs.existsSync(f)) throw new Error(`DomainNet: test list ${f} not found.\n${layoutHelp(absRoot)}`);
    }
  }

  const samples: DomainNetSample[] = [];
  for (const d of domains) {
    const domain = domainIndex(d);
    const list = split === 'test' ? splitListFile(absRoot, d, split) : split === 'train' ? folds[d].trainFold : folds[d].validFold;
    for (const e of readList(list, numClasses)) {
      samples.push({ path: path.join(absRoot, e.relPath), relPath: e.relPath, label: e.label, domain, list, line: e.line });
    }
  }
  return samples;
}
