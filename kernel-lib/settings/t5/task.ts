/**
 * The T5-GLUE training task for the shared Trainer: loss of a batch with every
 * method's extra terms, and evaluation by greedy generation.
 *
 * Loss (kernel-lib/docs/reference-code.md#t5-loss, #reinforce, #adamix), following the reference where it departs
 * from common practice:
 *   L = Σ_{b,t: label≠pad} [(1−ε)·nll + (ε/V)·Σ_v −log p_v]      fairseq label smoothing, ε = 0.1,
 *                                                              SUMMED over the batch's target tokens
 *                                                              (not averaged: the reference's helper
 *                                                              says "mean()? Scared to break other math")
 *     + Σ_blocks weight · block aux                             DSelect-k regulariser ×0.1
 *     + α L_policy + β L_ent + γ L_value                        REINFORCE, ℓ_b = example b's token-summed
 *                                                              label-smoothed loss (a large reward scale)
 *     + ½[KL(p₂‖p₁) + KL(p₁‖p₂)]                                AdaMix: a second pass with independent
 *                                                              random experts and dropout; KL summed over
 *                                                              the vocabulary and averaged over ALL B×T
 *                                                              positions incl. padding, added to the
 *                                                              summed CE (so it weighs little)
 * ST-Gumbel's temperature follows the reference's compounding T5 schedule.
 *
 * Evaluation: greedy generation (RoutedT5.generate, KV cache) per task with
 * the task's max decoding length → decode (special ids dropped) → GLUE
 * post-processing → per-task metrics → the reference's `eval_average_metrics`
 * (mean of the 11 metric values; the model-selection score) and the 8-task
 * mean. Routing statistics per task (tags = task ids) come from an extra
 * teacher-forced eval-mode forward on the test split (generation does not
 * return records); decoder routing reads the encoder mean, so it equals
 * generation's, except DSelect-k's decoder blocks (own token mean).
 */
import * as tf from '@tensorflow/tfjs-core';
import { RoutedT5, type T5Inputs } from '../../models/t5/model';
import { reinforceLosses } from '../../routing/methods/reinforce';
import { adamixConsistency } from '../../routing/methods/adamix';
import { GumbelSchedule } from '../../routing/schedules';
import { totalAuxLoss } from '../../routing/aux';
import { getMethod } from '../../routing/registry';
import type { RoutingRecord, StepInjection } from '../../routing/types';
import { RoutingStatsAccumulator, type RoutingReadPlan, type RoutingStats } from '../../analysis/routing-stats';
import { packForRead, readPacked, type PackedRead } from '../../backend/host-read';
import { glueAverage, glueTaskMeanAverage, taskMetricsFromStrings, type GlueResults } from '../../metrics/glue';
import { GLUE_TASKS } from '../../datasets/glue/tasks';
import type { Tokenizer } from '../../tokenizers/types';
import type { OptimizerParam } from '../../train/optimizer';
import type { EvalResult, StepContext, TrainerTask } from '../../train/trainer';
import type { T5RunConfig } from './config';
import { collate, taskMaxDecodingLength, type EvalSets, type T5Batch } from './data';

/**
 * fairseq's label_smoothed_nll_loss as the reference calls it (ignore_index = pad 0):
 * per token (1−ε)·(−log p_y) + (ε/V)·Σ_v(−log p_v), zero at padding. Returns the
 * batch sum (the training loss), the per-example sums ℓ_b [B] and the summed NLL.
 */
export function labelSmoothedLoss(
  logits: tf.Tensor3D,
  labels: Int32Array,
  epsilon: number,
  padId = 0,
): { loss: tf.Scalar; perExample: tf.Tensor1D; nll: tf.Scalar; logp: tf.Tensor3D } {
  const [b, t, v] = logits.shape;
  if (labels.length !== b * t) throw new Error(`labelSmoothedLoss: ${labels.length} labels for logits [${b},${t},${v}]`);
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits) as tf.Tensor3D; // [B,T,V]
    const lab = tf.tensor2d(labels, [b, t], 'int32');
    const mask = tf.cast(tf.notEqual(lab, padId), 'float32'); // [B,T]
    const nllTok = tf.mul(tf.neg(tf.sum(tf.mul(tf.oneHot(lab, v), logp), -1)), mask); // [B,T]
    const smoothTok = tf.mul(tf.neg(tf.sum(logp, -1)), mask); // [B,T]
    const tok = tf.add(tf.mul(1 - epsilon, nllTok), tf.mul(epsilon / v, smoothTok)); // [B,T]
    const perExample = tf.sum(tok, 1) as tf.Tensor1D;
    return { loss: tf.sum(perExample) as tf.Scalar, perExample, nll: tf.sum(nllTok) as tf.Scalar, logp };
  });
}

/** Model inputs of a batch. */
export function batchInputs(batch: T5Batch, withDecoder = true): T5Inputs {
  return {
    inputIds: batch.inputIds,
    attentionMask: batch.attentionMask,
    ...(withDecoder ? { decoderInputIds: batch.decoderInputIds } : {}),
    batchSize: batch.batchSize,
    taskIds: batch.taskIds,
    hashIds: batch.hashIds,
  };
}

export class T5Task implements TrainerTask<T5Batch> {
  private readonly gumbel: GumbelSchedule;
  private readonly maxDecode: number[];
  /** Steps completed (for the validation templates' seed). */
  private step = 0;
  /** Routing statistics of the latest test evaluation. */
  readonly routing: Partial<Record<'valid' | 'test', RoutingStats>> = {};

  constructor(
    readonly model: RoutedT5,
    private readonly cfg: T5RunConfig,
    private readonly evalSets: EvalSets,
    private readonly tokenizer: Tokenizer,
  ) {
    this.gumbel = new GumbelSchedule(cfg.losses.gumbel);
    this.maxDecode = evalSets.tasks.map((t) => taskMaxDecodingLength(t.task, tokenizer));
  }

  params(): OptimizerParam[] {
    // Skills' matrices train at lr × skillLrRatio (README ×10; the method's own scale is 10).
    return this.model.trainableParams().map((p) => ({ ...p, lrScale: p.lrScale !== 1 && /skills\./.test(p.name) ? this.cfg.losses.skillLrRatio : p.lrScale }));
  }

  /** Checkpoint state: the trainable tensors and every routing tensor (the backbone is frozen and reloaded from its file). */
  stateVariables(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [k, v] of this.model.variables()) if (k.includes('.adapter_controller.') || k.endsWith('layer_norm.weight')) out.set(k, v);
    return out;
  }

  afterStep(ctx: StepContext): void {
    this.step = ctx.step + 1;
  }

  /** The loss of a batch; `records` are the first pass's routing records (`smear step` writes them). */
  loss(batch: T5Batch, ctx: StepContext & StepInjection): { loss: tf.Scalar; logs: Record<string, tf.Scalar>; records: RoutingRecord[] } {
    const temperature = this.gumbel.temperatureAt(ctx.step);
    const extra = (pass: number) => ({ ...(ctx.draws?.[pass] ? { draws: ctx.draws[pass] } : {}), ...(ctx.disableDropout ? { disableDropout: true } : {}) });
    const out = this.model.forward(batchInputs(batch), { training: true, rng: ctx.rng, temperature, ...extra(0) });
    const ls = labelSmoothedLoss(out.logits, batch.labels, this.cfg.train.labelSmoothing);
    const aux = totalAuxLoss(out.aux);
    let loss = tf.add(ls.loss, aux) as tf.Scalar;
    const logs: Record<string, tf.Scalar> = { ce: ls.loss, nll: ls.nll };
    const method = getMethod(this.model.method).name;
    if (method === 'reinforce') {
      const terms = reinforceLosses(out.records, ls.perExample, this.cfg.losses.reinforce);
      for (const t of terms) logs[`reinforce_${t.name}`] = t.value;
      loss = tf.add(loss, totalAuxLoss(terms)) as tf.Scalar;
    }
    if (method === 'adamix') {
      // Second pass: independent random experts (and dropout masks), same batch.
      const out2 = this.model.forward(batchInputs(batch), { training: true, rng: ctx.rng, temperature, ...extra(1) });
      const v = out.logits.shape[2];
      const rows = batch.batchSize * batch.tgtLen;
      const consistency = adamixConsistency(tf.reshape(ls.logp, [rows, v]), tf.reshape(tf.logSoftmax(out2.logits), [rows, v]), 'mean');
      logs.consistency = consistency;
      loss = tf.add(loss, consistency) as tf.Scalar;
    }
    if (out.aux.length) logs.aux = aux;
    return { loss, logs, records: out.records };
  }

  async evaluate(split: 'valid' | 'test'): Promise<EvalResult> {
    const which = split === 'valid' ? 'validation' : 'test';
    const perTask: GlueResults = {};
    const stats = split === 'test' ? new RoutingStatsAccumulator(getMethod(this.model.method).name, [...GLUE_TASKS]) : null;
    let examples = 0;
    const bs = this.cfg.train.evalBatchSize;
    for (let ti = 0; ti < this.evalSets.tasks.length; ti++) {
      const task = this.evalSets.tasks[ti].task;
      const items = this.evalSets.items(ti, which, this.step);
      const preds: string[] = [];
      for (let i = 0; i < items.length; i += bs) {
        const chunk = items.slice(i, i + bs);
        const batch = collate(
          chunk.map((c) => c.example),
          chunk[0].example.hash.length,
        );
        const gen = await this.model.generate(batchInputs(batch, false), { maxLength: this.maxDecode[ti] });
        const [b, l] = gen.shape;
        for (let r = 0; r < b; r++) preds.push(this.tokenizer.decode(gen.sequences.subarray(r * l, (r + 1) * l)));
        if (stats) {
          const { packed, plan } = tf.tidy(() => {
            const out = this.model.forward(batchInputs(batch), { training: false });
            const p = stats.plan(out.records);
            return { packed: packForRead(p.map((e) => e.tensor)), plan: p.map(({ tensor: _t, ...rest }) => rest) } as unknown as tf.TensorContainer;
          }) as unknown as { packed: PackedRead; plan: Omit<RoutingReadPlan, 'tensor'>[] };
          stats.addValues(plan, await readPacked(packed), batch.taskIds); // one read for all blocks
        }
        await new Promise((r) => setImmediate(r)); // let Ctrl-C and progress through
      }
      perTask[task] = taskMetricsFromStrings(
        task,
        preds,
        items.map((c) => c.targetText),
      );
      examples += items.length;
    }
    const average = glueAverage(perTask);
    if (stats) this.routing[split] = stats.result();
    return {
      score: average,
      metrics: { glue_average: average, task_mean: glueTaskMeanAverage(perTask), examples, ...(perTask as Record<string, Record<string, number>>) },
    };
  }
}
