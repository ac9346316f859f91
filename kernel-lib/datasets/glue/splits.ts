/**
 * The Hyperformer split scheme of the reference (kernel-lib/docs/reference-code.md#glue-splits;
 * `hyperformer/hyperformer/data/p3_tasks.py` with `split_validation_test: true`, `data_seed: 42`):
 *
 * | task group                 | train                    | validation               | test                     |
 * |----------------------------|--------------------------|--------------------------|--------------------------|
 * | small: RTE, MRPC, STS-B, CoLA | GLUE train            | p[:⌊n/2⌋] of GLUE validation | p[⌊n/2⌋:] of GLUE validation |
 * | large: SST-2, QQP, QNLI    | q[1000:] of GLUE train   | q[:1000] of GLUE train   | GLUE validation          |
 * | MNLI                       | GLUE train               | validation_mismatched    | validation_matched       |
 *
 * with p = torch.randperm(n_validation, generator=torch.Generator().manual_seed(42))
 * and q = torch.randperm(n_train, same), each from a fresh generator
 * (`get_half_validation_indices` / `get_train_split_indices`). Selected
 * examples keep the permuted order. Unpermuted splits keep file order.
 *
 * Mode `'reference'` additionally reproduces what the reference code does with
 * its default `n_train = n_val = n_test = -1` (training_args.py; the configs
 * never set them): `select_dataset_samples(indices, n_obs=-1)` takes
 * `indices[:-1]`, and the unpermuted branch loads `"<split>[:-1]"`
 * (`get_sampled_split`), so EVERY split loses its last element (e.g. RTE
 * train 2,489, validation 137, test 138). The default `'spec'` mode is the
 * table above without that off-by-one (the scheme's nominal sizes, tabled in
 * the notes). Both are deterministic; pick `'reference'` to match the reference's data exactly.
 */
import { torchRandperm } from './torch-random';
import { glueTask } from './tasks';
import type { GlueExample, GlueTaskName } from './tasks';
import { readGlueSplit } from './readers';
import type { GlueFormat, GlueReadOptions, GlueSplitName } from './readers';

export type GlueSplitMode = 'spec' | 'reference';
export type HyperformerSplit = 'train' | 'validation' | 'test';

export interface SplitOptions {
  /** data_seed (default 42) */
  seed?: number;
  /** 'spec' (default) or 'reference' (the reference's n_obs = -1 drop-last quirk) */
  mode?: GlueSplitMode;
  /** large-task validation size taken from train (default 1000) */
  validationSize?: number;
}

/** Which GLUE split a Hyperformer split is drawn from, and which rows in which order. */
export interface SplitSelection {
  source: GlueSplitName;
  /** row positions into `source`, in order */
  indices: Int32Array;
}

function range(n: number): Int32Array {
  const r = new Int32Array(n);
  for (let i = 0; i < n; i++) r[i] = i;
  return r;
}

function dropLast(a: Int32Array, mode: GlueSplitMode): Int32Array {
  // Python a[:-1]: empty stays empty
  return mode === 'reference' ? a.slice(0, Math.max(0, a.length - 1)) : a;
}

/**
 * Indices of one Hyperformer split, given the GLUE split sizes:
 * `sizes.train`, `sizes.validation` (MNLI: `validation_matched`, `validation_mismatched`).
 */
export function hyperformerSplitIndices(
  task: string,
  split: HyperformerSplit,
  sizes: Partial<Record<GlueSplitName, number>>,
  opts: SplitOptions = {},
): SplitSelection {
  const info = glueTask(task);
  const seed = opts.seed ?? 42;
  const mode = opts.mode ?? 'spec';
  const vsize = opts.validationSize ?? 1000;
  if (mode !== 'spec' && mode !== 'reference') throw new Error(`hyperformerSplitIndices: option mode must be 'spec' or 'reference', got ${JSON.stringify(mode)}`);
  if (!['train', 'validation', 'test'].includes(split)) throw new Error(`hyperformerSplitIndices: split must be train, validation or test, got ${JSON.stringify(split)}`);
  const size = (s: GlueSplitName): number => {
    const n = sizes[s];
    if (n === undefined || !Number.isInteger(n) || n < 0) throw new Error(`hyperformerSplitIndices: ${info.name} needs the size of GLUE split '${s}', got ${n}`);
    return n;
  };
  if (info.group === 'mnli') {
    const source: GlueSplitName = split === 'train' ? 'train' : split === 'validation' ? 'validation_mismatched' : 'validation_matched';
    return { source, indices: dropLast(range(size(source)), mode) };
  }
  if (info.group === 'small') {
    if (split === 'train') return { source: 'train', indices: dropLast(range(size('train')), mode) };
    const n = size('validation');
    const p = torchRandperm(n, seed);
    const half = Math.floor(n / 2);
    return { source: 'validation', indices: dropLast(split === 'validation' ? p.slice(0, half) : p.slice(half), mode) };
  }
  // large
  if (split === 'test') return { source: 'validation', indices: dropLast(range(size('validation')), mode) };
  const q = torchRandperm(size('train'), seed);
  return { source: 'train', indices: dropLast(split === 'validation' ? q.slice(0, vsize) : q.slice(vsize), mode) };
}

/** Expected split sizes for given GLUE sizes (no data needed). */
export function hyperformerSplitSizes(task: string, sizes: Partial<Record<GlueSplitName, number>>, opts: SplitOptions = {}): Record<HyperformerSplit, number> {
  return {
    train: hyperformerSplitIndices(task, 'train', sizes, opts).indices.length,
    validation: hyperformerSplitIndices(task, 'validation', sizes, opts).indices.length,
    test: hyperformerSplitIndices(task, 'test', sizes, opts).indices.length,
  };
}

export interface GlueTaskSplits {
  task: GlueTaskName;
  train: GlueExample[];
  validation: GlueExample[];
  test: GlueExample[];
}

/** Loads a task's GLUE splits from `root` (TSV or parquet) and applies the Hyperformer scheme. */
export async function loadHyperformerSplits(
  root: string,
  task: string,
  opts: SplitOptions & GlueReadOptions & { format?: GlueFormat; splits?: readonly HyperformerSplit[] } = {},
): Promise<GlueTaskSplits> {
  const info = glueTask(task);
  const wanted = opts.splits ?? ['train', 'validation', 'test'];
  const cache = new Map<GlueSplitName, GlueExample[]>();
  const get = async (s: GlueSplitName): Promise<GlueExample[]> => {
    let ex = cache.get(s);
    if (!ex) {
      ex = (await readGlueSplit(root, info.name, s, opts)).examples;
      cache.set(s, ex);
    }
    return ex;
  };
  const out: GlueTaskSplits = { task: info.name, train: [], validation: [], test: [] };
  for (const split of wanted) {
    // only the sizes this split needs are read
    const sizes: Partial<Record<GlueSplitName, number>> = {};
    const src: GlueSplitName =
      info.group === 'mnli'
        ? split === 'train'
          ? 'train'
          : split === 'validation'
            ? 'validation_mismatched'
            : 'validation_matched'
        : info.group === 'small'
          ? split === 'train'
            ? 'train'
            : 'validation'
          : split === 'test'
            ? 'validation'
            : 'train';
    const rows = await get(src);
    sizes[src] = rows.length;
    const sel = hyperformerSplitIndices(info.name, split, sizes, opts);
    out[split] = Array.from(sel.indices, (i) => rows[i]);
  }
  return out;
}
