/**
 * GLUE batches for the T5 setting (kernel-lib/docs/reference-code.md#batches-and-sampling,
 * #prompts, #hash-labels).
 *
 * Training (`TrainBatches`, the reference's MultiTaskBatchSampler at
 * temperature 1 + DatasetWithTemplate + prepare_seq2seq_batch):
 *   - epoch e draws `total` indices uniformly WITH replacement from the
 *     concatenation of the 8 training sets (total = Σ train sizes), with a
 *     generator seeded samplerSeed + e (reference: torch.randint with a
 *     torch.Generator seeded 0 + epoch — fixed at 0, independent of data_seed,
 *     kernel-lib/docs/reference-code.md#batches-and-sampling). Draws use
 *     torch's CPU mt19937 and its 32-bit `random() % n` path for ranges
 *     < 2^32 (ported; not checked against a live torch here). An "epoch" therefore does not visit every example.
 *   - batches are consecutive slices of B; ⌊total / B⌋ batches per epoch
 *     (the remainder is dropped); batches mix tasks.
 *   - each example gets a promptsource template drawn uniformly at every
 *     access (reference: np.random.choice). Here the draw comes from a
 *     generator seeded by (seed, step), so batch `step` is a pure function of
 *     the step and a resumed run sees exactly the batches it would have seen.
 *   - tokenisation appends EOS; sources and targets are truncated to
 *     maxInputLength / maxTargetLength (transformers' truncation keeps EOS);
 *     truncations are counted.
 *   - padding to the longest sequence in the batch with 0 (padding="longest");
 *     labels padded with 0 (= pad id, ignored by the loss); decoder inputs are
 *     the labels shifted right with 0 (the decoder start token) first.
 *   - task ids (rte=0 … cola=7) and hash labels: `randint(8, size=(n, R))`
 *     drawn once per dataset object (task × split), R = number of routing
 *     blocks (60 for the base model); the `8` is hard-coded in the reference
 *     (kernel-lib/docs/reference-code.md#hash-labels) and kept here.
 *
 * Evaluation (`EvalSets`):
 *   - validation: one random template per example, re-drawn at every
 *     evaluation as the reference does (here seeded by the step of the
 *     evaluation, so a resumed run evaluates on the same renderings);
 *   - test: every example under every template (`eval_all_templates=True`);
 *   - per-task maximum decoding length = the longest tokenised answer string
 *     of the task's templates incl. EOS (`compute_task_max_decoding_length`).
 */
import { Rng } from '../../util/rng';
import { TorchMT19937 } from '../../datasets/glue/torch-random';
import { GLUE_TASKS, GLUE_TASK_INFO, type GlueExample, type GlueTaskName } from '../../datasets/glue/tasks';
import { loadHyperformerSplits, type GlueTaskSplits } from '../../datasets/glue/splits';
import { applyTemplate, originalTaskTemplates, taskAnswerStrings, type PromptTemplate } from '../../datasets/glue/prompts';
import { encodeTruncated, TruncationStats, type Tokenizer } from '../../tokenizers/types';
import { detectGlueFormat } from '../../datasets/glue/readers';
import type { BatchSource } from '../../train/trainer';
import type { T5RunConfig } from './config';

/** Range of the reference's hash labels (`np.random.randint(8, …)`, hard-coded). */
export const HASH_RANGE = 8;

/** One tokenised example. */
export interface T5Example {
  input: number[];
  target: number[];
  task: number;
  /** Hash labels of the example's row [R]. */
  hash: Int32Array;
}

export interface T5Batch {
  batchSize: number;
  /** [B,S] row-major, padded with 0. */
  inputIds: Int32Array;
  attentionMask: Int32Array;
  srcLen: number;
  /** [B,T] row-major, padded with 0 (ignored by the loss). */
  labels: Int32Array;
  /** [B,T]: labels shifted right, 0 first. */
  decoderInputIds: Int32Array;
  tgtLen: number;
  taskIds: Int32Array;
  /** [B,R] row-major. */
  hashIds: Int32Array;
  hashColumns: number;
}

/** Pad and shift a list of examples into a batch (padding="longest"). */
export function collate(examples: readonly T5Example[], hashColumns: number): T5Batch {
  const b = examples.length;
  if (b === 0) throw new Error('collate: empty batch');
  const s = Math.max(...examples.map((e) => e.input.length));
  const t = Math.max(...examples.map((e) => e.target.length));
  const inputIds = new Int32Array(b * s);
  const attentionMask = new Int32Array(b * s);
  const labels = new Int32Array(b * t);
  const decoderInputIds = new Int32Array(b * t);
  const taskIds = new Int32Array(b);
  const hashIds = new Int32Array(b * hashColumns);
  examples.forEach((e, i) => {
    inputIds.set(e.input, i * s);
    attentionMask.fill(1, i * s, i * s + e.input.length);
    labels.set(e.target, i * t);
    // shift right: decoder_input_ids[0] = 0 (start), [j] = labels[j-1]
    for (let j = 1; j < t; j++) decoderInputIds[i * t + j] = labels[i * t + j - 1];
    taskIds[i] = e.task;
    if (e.hash.length < hashColumns) throw new Error(`collate: example has ${e.hash.length} hash labels, expected ${hashColumns}`);
    hashIds.set(e.hash.subarray(0, hashColumns), i * hashColumns);
  });
  return { batchSize: b, inputIds, attentionMask, srcLen: s, labels, decoderInputIds, tgtLen: t, taskIds, hashIds, hashColumns };
}

const SPLIT_TAG: Record<string, number> = { train: 1, validation: 2, test: 3 };

/** Hash labels of one dataset object: randint(8) of shape [n, columns], seeded by (dataSeed, task, split). */
export function hashLabels(n: number, columns: number, dataSeed: number, task: GlueTaskName, split: 'train' | 'validation' | 'test'): Int32Array {
  return new Rng(dataSeed * 7919 + GLUE_TASK_INFO[task].index * 31 + SPLIT_TAG[split]).uniformInt(n * columns, HASH_RANGE);
}

/** A seed derived from a base seed and a step (distinct streams per purpose). */
export function stepSeed(seed: number, purpose: number, step: number): number {
  return (seed * 1_000_003 + purpose * 7_919_017 + step) % 2 ** 52;
}

/** The examples-proportional multi-task sampler: epoch indices drawn with replacement. */
export class MultiTaskSampler {
  readonly total: number;
  readonly batchesPerEpoch: number;
  private readonly offsets: number[];
  private cache: { epoch: number; indices: Int32Array } | null = null;

  constructor(readonly sizes: readonly number[], readonly batchSize: number, readonly seed: number) {
    this.total = sizes.reduce((a, b) => a + b, 0);
    if (this.total >= 2 ** 32) throw new Error('MultiTaskSampler: more than 2^32 training examples');
    this.batchesPerEpoch = Math.floor(this.total / batchSize);
    if (this.batchesPerEpoch < 1) throw new Error(`training sets hold ${this.total} examples, fewer than one batch of ${batchSize} (option train.batchSize)`);
    this.offsets = [];
    let o = 0;
    for (const n of sizes) {
      this.offsets.push(o);
      o += n;
    }
  }

  /** torch.randint(total, (total,), generator=Generator().manual_seed(seed + epoch)). */
  epochIndices(epoch: number): Int32Array {
    if (this.cache?.epoch === epoch) return this.cache.indices;
    const g = new TorchMT19937(this.seed + epoch);
    const out = new Int32Array(this.total);
    for (let i = 0; i < this.total; i++) out[i] = g.random() % this.total;
    this.cache = { epoch, indices: out };
    return out;
  }

  /** Global indices of batch `step` (consecutive slice of its epoch's draws). */
  batchIndices(step: number): Int32Array {
    const epoch = Math.floor(step / this.batchesPerEpoch);
    const k = step % this.batchesPerEpoch;
    return this.epochIndices(epoch).slice(k * this.batchSize, (k + 1) * this.batchSize);
  }

  /** Global index → (dataset, row). */
  locate(index: number): { dataset: number; row: number } {
    let d = this.offsets.length - 1;
    while (d > 0 && this.offsets[d] > index) d--;
    return { dataset: d, row: index - this.offsets[d] };
  }
}

/** Loads the 8 tasks with the Hyperformer splits (GLUE order). */
export async function loadGlueTasks(cfg: T5RunConfig, warn?: (m: string) => void): Promise<GlueTaskSplits[]> {
  const out: GlueTaskSplits[] = [];
  for (const task of GLUE_TASKS) {
    const format = detectGlueFormat(cfg.data.root, task);
    out.push(
      await loadHyperformerSplits(cfg.data.root, task, {
        format,
        seed: cfg.data.dataSeed,
        mode: cfg.data.splitMode,
        validationSize: cfg.data.validationSize,
        ...(warn ? { onWarning: warn } : {}),
      }),
    );
  }
  for (const t of out) {
    for (const split of ['train', 'validation', 'test'] as const) {
      if (t[split].length === 0) throw new Error(`GLUE ${t.task} ${split}: no examples under ${cfg.data.root} (option data)`);
    }
  }
  return out;
}

/** Tokenisation with counted truncation. */
export class Encoder {
  readonly sourceStats = new TruncationStats();
  readonly targetStats = new TruncationStats();
  constructor(readonly tokenizer: Tokenizer, readonly maxInputLength: number, readonly maxTargetLength: number) {}

  encode(input: string, target: string): { input: number[]; target: number[] } {
    return {
      input: encodeTruncated(this.tokenizer, input, this.maxInputLength, this.sourceStats),
      target: encodeTruncated(this.tokenizer, target, this.maxTargetLength, this.targetStats),
    };
  }
}

/** Per-task decoding length: the longest tokenised answer incl. EOS. */
export function taskMaxDecodingLength(task: string, tokenizer: Tokenizer): number {
  return Math.max(...taskAnswerStrings(task).map((s) => tokenizer.encode(s.trim()).length));
}

/** Purposes for stepSeed. */
export const SEED_PURPOSE = { trainTemplates: 1, validTemplates: 2 } as const;

/** The endless, step-addressable stream of training batches. */
export class TrainBatches implements BatchSource<T5Batch> {
  readonly sampler: MultiTaskSampler;
  private readonly templates: PromptTemplate[][];
  private readonly hash: Int32Array[];

  constructor(
    private readonly tasks: readonly GlueTaskSplits[],
    private readonly encoder: Encoder,
    private readonly opts: { batchSize: number; samplerSeed: number; seed: number; dataSeed: number; hashColumns: number },
  ) {
    this.sampler = new MultiTaskSampler(
      tasks.map((t) => t.train.length),
      opts.batchSize,
      opts.samplerSeed,
    );
    this.templates = tasks.map((t) => originalTaskTemplates(t.task));
    this.hash = tasks.map((t) => hashLabels(t.train.length, opts.hashColumns, opts.dataSeed, t.task, 'train'));
  }

  /** The examples of batch `step` (rendered and tokenised), deterministic in the step. */
  examplesAt(step: number): T5Example[] {
    const rng = new Rng(stepSeed(this.opts.seed, SEED_PURPOSE.trainTemplates, step));
    const cols = this.opts.hashColumns;
    return Array.from(this.sampler.batchIndices(step), (g) => {
      const { dataset, row } = this.sampler.locate(g);
      const t = this.tasks[dataset];
      const templates = this.templates[dataset];
      const tpl = templates[rng.uniformInt(1, templates.length)[0]];
      const r = applyTemplate(tpl, t.train[row]);
      return { ...this.encoder.encode(r.input, r.target), task: GLUE_TASK_INFO[t.task].index, hash: this.hash[dataset].subarray(row * cols, (row + 1) * cols) };
    });
  }

  batchAt(step: number): T5Batch {
    return collate(this.examplesAt(step), this.opts.hashColumns);
  }

  async *iterate(startStep: number): AsyncGenerator<T5Batch> {
    for (let step = startStep; ; step++) yield this.batchAt(step);
  }
}

export interface EvalItem {
  example: T5Example;
  targetText: string;
}

/** Validation / test renderings of every task. */
export class EvalSets {
  private readonly hash = new Map<string, Int32Array>();

  constructor(
    readonly tasks: readonly GlueTaskSplits[],
    private readonly encoder: Encoder,
    private readonly opts: { seed: number; dataSeed: number; hashColumns: number; maxValidExamples: number; maxTestExamples: number },
  ) {}

  private hashFor(t: GlueTaskSplits, split: 'validation' | 'test'): Int32Array {
    const key = `${t.task}/${split}`;
    let h = this.hash.get(key);
    if (!h) {
      h = hashLabels(t[split].length, this.opts.hashColumns, this.opts.dataSeed, t.task, split);
      this.hash.set(key, h);
    }
    return h;
  }

  /** Examples used per task (the caps of the mini profile; 0 = all). */
  examples(t: GlueTaskSplits, split: 'validation' | 'test'): readonly GlueExample[] {
    const cap = split === 'validation' ? this.opts.maxValidExamples : this.opts.maxTestExamples;
    return cap > 0 ? t[split].slice(0, cap) : t[split];
  }

  /**
   * Items of one task: validation = one template per example drawn from a
   * generator seeded by `evalStep`; test = every example under every template
   * (item i is example ⌊i/T⌋ under template i mod T, as PromptedDataset).
   */
  items(taskIndex: number, split: 'validation' | 'test', evalStep = 0): EvalItem[] {
    const t = this.tasks[taskIndex];
    const templates = originalTaskTemplates(t.task);
    const exs = this.examples(t, split);
    const hash = this.hashFor(t, split);
    const cols = this.opts.hashColumns;
    const task = GLUE_TASK_INFO[t.task].index;
    const out: EvalItem[] = [];
    const make = (row: number, tpl: PromptTemplate): EvalItem => {
      const r = applyTemplate(tpl, exs[row]);
      return { example: { ...this.encoder.encode(r.input, r.target), task, hash: hash.subarray(row * cols, (row + 1) * cols) }, targetText: r.target };
    };
    if (split === 'validation') {
      const rng = new Rng(stepSeed(this.opts.seed, SEED_PURPOSE.validTemplates, evalStep) + taskIndex * 104729);
      for (let row = 0; row < exs.length; row++) out.push(make(row, templates[rng.uniformInt(1, templates.length)[0]]));
    } else {
      for (let row = 0; row < exs.length; row++) for (const tpl of templates) out.push(make(row, tpl));
    }
    return out;
  }
}

export type { GlueTaskSplits };
