/**
 * The ResNet-DomainNet training task for the shared Trainer: loss of a batch
 * with every method's extra terms, and evaluation (pooled top-1 and per-domain
 * accuracy, routing statistics).
 *
 * Loss (kernel-lib/docs/reference-code.md#resnet-training, #auxiliary-losses): mean cross-entropy
 *   + Σ_blocks weight · block aux       (DSelect-k regulariser ×0.1; Top-k load balancing when on)
 *   + α L_policy + β L_ent + γ L_value  (REINFORCE, with ℓ_b the per-example CE)
 *   + ½[KL(p₂‖p₁) + KL(p₁‖p₂)]           (AdaMix: a second pass with independent random experts;
 *                                          KLDivLoss batchmean; the task loss is pass 1's)
 * ST-Gumbel's temperature follows the reference's compounding schedule.
 */
import * as tf from '@tensorflow/tfjs-core';
import { RoutedResNet } from '../../models/resnet/resnet';
import { reinforceLosses } from '../../routing/methods/reinforce';
import { adamixConsistency } from '../../routing/methods/adamix';
import { GumbelSchedule } from '../../routing/schedules';
import { totalAuxLoss } from '../../routing/aux';
import { getMethod } from '../../routing/registry';
import type { DrawsForBlock, RoutingRecord, StepInjection } from '../../routing/types';
import { RoutingStatsAccumulator, type RoutingReadPlan, type RoutingStats } from '../../analysis/routing-stats';
import { packForRead, readPacked, type PackedRead } from '../../backend/host-read';
import type { EvalResult, StepContext, TrainerTask } from '../../train/trainer';
import type { ResNetRunConfig } from './config';
import { EvalBatches, HASH_COLUMNS, type ResNetBatch } from './data';

export interface ResNetEvalSets {
  valid: () => EvalBatches;
  test: () => EvalBatches;
}

export class ResNetTask implements TrainerTask<ResNetBatch> {
  private readonly gumbel: GumbelSchedule;
  /** Routing statistics of the latest evaluation per split. */
  readonly routing: Partial<Record<'valid' | 'test', RoutingStats>> = {};

  constructor(
    readonly model: RoutedResNet,
    private readonly cfg: ResNetRunConfig,
    private readonly evalSets: ResNetEvalSets,
    private readonly domainNames: string[],
  ) {
    this.gumbel = new GumbelSchedule(cfg.losses.gumbel);
  }

  params() {
    return this.model.trainableParams();
  }

  stateVariables(): Map<string, tf.Variable> {
    return this.model.variables();
  }

  private forward(batch: ResNetBatch, training: boolean, step = 0, rng?: StepContext['rng'], draws?: DrawsForBlock) {
    return this.model.forward(batch.pixels, {
      training,
      rng,
      domainIds: batch.domains,
      hashIds: batch.hash,
      temperature: this.gumbel.temperatureAt(step),
      ...(draws ? { draws } : {}),
    });
  }

  /** The loss of a batch; `records` are the first pass's routing records (`smear step` writes them). */
  loss(batch: ResNetBatch, ctx: StepContext & StepInjection): { loss: tf.Scalar; logs: Record<string, tf.Scalar>; records: RoutingRecord[] } {
    const k = this.cfg.data.numClasses;
    const out = this.forward(batch, true, ctx.step, ctx.rng, ctx.draws?.[0]);
    const logp = tf.logSoftmax(out.logits); // [B,K]
    const onehot = tf.oneHot(tf.tensor1d(batch.labels, 'int32'), k); // [B,K]
    const perExample = tf.neg(tf.sum(tf.mul(onehot, logp), 1)) as tf.Tensor1D; // ℓ_b  [B]
    const ce = tf.mean(perExample) as tf.Scalar;
    const aux = totalAuxLoss(out.aux);
    let loss = tf.add(ce, aux) as tf.Scalar;
    const logs: Record<string, tf.Scalar> = { ce };
    const method = getMethod(this.model.method);
    if (method.name === 'reinforce') {
      const terms = reinforceLosses(out.records, perExample, this.cfg.losses.reinforce);
      for (const t of terms) logs[`reinforce_${t.name}`] = t.value;
      loss = tf.add(loss, totalAuxLoss(terms)) as tf.Scalar;
    }
    if (method.name === 'adamix') {
      const out2 = this.forward(batch, true, ctx.step, ctx.rng, ctx.draws?.[1]); // independent random experts
      const consistency = adamixConsistency(logp, tf.logSoftmax(out2.logits), 'batchmean');
      logs.consistency = consistency;
      loss = tf.add(loss, consistency) as tf.Scalar;
    }
    if (out.aux.length) logs.aux = aux;
    return { loss, logs, records: out.records };
  }

  async evaluate(split: 'valid' | 'test'): Promise<EvalResult> {
    const sets = split === 'valid' ? this.evalSets.valid() : this.evalSets.test();
    const nd = this.domainNames.length;
    const correct = new Float64Array(nd);
    const total = new Float64Array(nd);
    const stats = new RoutingStatsAccumulator(getMethod(this.model.method).name, this.domainNames);
    const limit = split === 'valid' && this.cfg.train.maxEvalExamples > 0 ? this.cfg.train.maxEvalExamples : Infinity;
    let seen = 0;
    try {
      for await (const batch of sets.batches()) {
        // One device read per batch: the predictions and every block's routing distribution.
        const { packed, plan } = tf.tidy(() => {
          const out = this.forward(batch, false);
          const p = stats.plan(out.records);
          return {
            packed: packForRead([tf.argMax(out.logits, 1), ...p.map((e) => e.tensor)]),
            plan: p.map(({ tensor: _t, ...rest }) => rest),
          } as unknown as tf.TensorContainer;
        }) as unknown as { packed: PackedRead; plan: Omit<RoutingReadPlan, 'tensor'>[] };
        batch.pixels.dispose();
        const [preds, ...routing] = await readPacked(packed);
        stats.addValues(plan, routing, batch.domains);
        preds.forEach((p, i) => {
          const d = batch.domains[i];
          total[d] += 1;
          if (p === batch.labels[i]) correct[d] += 1;
        });
        seen += preds.length;
        if (seen >= limit) break;
      }
    } finally {
      await sets.close();
    }
    const n = total.reduce((a, b) => a + b, 0);
    if (n === 0) throw new Error(`evaluation on the ${split} split saw no images`);
    const pooled = correct.reduce((a, b) => a + b, 0) / n;
    const perDomain: Record<string, number> = {};
    this.domainNames.forEach((d, i) => {
      if (total[i] > 0) perDomain[d] = correct[i] / total[i];
    });
    this.routing[split] = stats.result();
    return { score: pooled, metrics: { accuracy: pooled, examples: n, per_domain: perDomain } };
  }
}

export { HASH_COLUMNS };
