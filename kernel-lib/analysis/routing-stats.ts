/**
 * Routing statistics from the routing records that forward passes return
 * (no hooks): per routing block, the average routing distribution per tag
 * (task or domain) — the paper's Figure 3 —, expert usage, routing entropy
 * and a specialisation score.
 *
 * Distributions per example come from `record.probs` (router probabilities),
 * else `record.weights` (merge/mixing weights, e.g. skills, DSelect-k), else
 * a one-hot of `record.index` (tag, hash, AdaMix in training). Rows are
 * renormalised to sum to 1 (DSelect-k's q need not).
 *
 * Specialisation = normalised mutual information between the tag T and the
 * expert E drawn from the routing distribution: with the joint
 * p(t, e) = (1/n) Σ_b 1[tag_b = t] · π_b(e),
 *   NMI = 2·I(T;E) / (H(T) + H(E))  ∈ [0, 1]
 * (0: routing independent of the tag; 1: each tag has its own experts).
 */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs-core';
import type { RoutingRecord } from '../routing/types';
import { writeFileAtomic } from '../io/atomic';
import { readMany } from '../backend/host-read';
import { readJsonFile } from '../util/json';

/** One block's routing distribution to read: see `RoutingStatsAccumulator.plan`. */
export interface RoutingReadPlan {
  block: number;
  source: BlockRoutingStats['source'];
  /** Experts (−1: infer from the largest index, for index records without weights). */
  n: number;
  tensor: tf.Tensor;
}

export interface BlockRoutingStats {
  block: number;
  /** Which record field the distributions came from. */
  source: 'probs' | 'weights' | 'index';
  numExperts: number;
  /** Examples seen per tag. */
  counts: number[];
  /** [T][N] average routing distribution per tag (rows sum to 1; zeros for unseen tags). */
  meanByTag: number[][];
  /** [N] average routing distribution over all examples. */
  usage: number[];
  /** [N] fraction of examples whose most probable expert is n. */
  argmaxUsage: number[];
  /** Mean per-example entropy of the routing distribution (nats). */
  entropy: number;
  /** Normalised mutual information between tag and expert. */
  specialization: number;
}

export interface RoutingStats {
  method: string;
  tagNames: string[];
  examples: number;
  blocks: BlockRoutingStats[];
}

function entropy(p: ArrayLike<number>): number {
  let h = 0;
  for (let i = 0; i < p.length; i++) if (p[i] > 0) h -= p[i] * Math.log(p[i]);
  return h;
}

/** Accumulates routing records over an evaluation set. */
export class RoutingStatsAccumulator {
  private blocks = new Map<number, { source: BlockRoutingStats['source']; n: number; sum: Float64Array; counts: Float64Array; argmax: Float64Array; ent: number; seen: number }>();
  private examples = 0;

  constructor(readonly method: string, readonly tagNames: string[]) {}

  /**
   * What `addValues` needs from a batch's routing records: one tensor per
   * block that has a routing distribution. Read them with the batch's other
   * outputs in one device round trip (backend/host-read.ts), then call
   * `addValues` with the plan (tensors dropped) and the values.
   */
  plan(records: readonly RoutingRecord[]): RoutingReadPlan[] {
    const out: RoutingReadPlan[] = [];
    records.forEach((r, block) => {
      const src: BlockRoutingStats['source'] | null = r.probs ? 'probs' : r.weights ? 'weights' : r.index && r.index.rank === 1 ? 'index' : null;
      if (!src) return;
      if (src === 'index') out.push({ block, source: src, n: r.weights ? r.weights.shape[1] : -1, tensor: r.index! });
      else {
        const m = (src === 'probs' ? r.probs : r.weights) as tf.Tensor2D;
        out.push({ block, source: src, n: m.shape[1], tensor: m });
      }
    });
    return out;
  }

  /** Add one batch from a batch's records (reads them: one `await data()`). */
  async add(records: readonly RoutingRecord[], tags: ArrayLike<number>): Promise<void> {
    const plan = this.plan(records);
    this.addValues(plan, await readMany(plan.map((e) => e.tensor)), tags);
  }

  /** Add one batch from values read for `plan` (one array per plan entry) and the tags of its examples. */
  addValues(plan: readonly Omit<RoutingReadPlan, 'tensor'>[], values: readonly ArrayLike<number>[], tags: ArrayLike<number>): void {
    const t = this.tagNames.length;
    plan.forEach((entry, i) => {
      const { block, source: src } = entry;
      let rows: ArrayLike<number>;
      let n = entry.n;
      if (src === 'index') {
        const idx = values[i];
        if (n < 0) n = Math.max(...Array.from(idx)) + 1;
        const onehot = new Float32Array(idx.length * n);
        for (let b = 0; b < idx.length; b++) onehot[b * n + idx[b]] = 1;
        rows = onehot;
      } else {
        rows = values[i];
      }
      const batch = rows.length / n;
      if (batch !== tags.length) throw new Error(`routing stats: block ${block} has ${batch} rows, tags has ${tags.length}`);
      let acc = this.blocks.get(block);
      if (!acc) {
        acc = { source: src, n, sum: new Float64Array(t * n), counts: new Float64Array(t), argmax: new Float64Array(n), ent: 0, seen: 0 };
        this.blocks.set(block, acc);
      }
      if (acc.n !== n) throw new Error(`routing stats: block ${block} changed from ${acc.n} to ${n} experts`);
      for (let b = 0; b < batch; b++) {
        const tag = tags[b];
        if (!(tag >= 0 && tag < t)) throw new Error(`routing stats: tag ${tag} out of range [0, ${t})`);
        let s = 0;
        for (let e = 0; e < n; e++) s += Math.max(0, rows[b * n + e]);
        const p = new Float64Array(n);
        for (let e = 0; e < n; e++) p[e] = s > 0 ? Math.max(0, rows[b * n + e]) / s : 1 / n;
        let best = 0;
        for (let e = 0; e < n; e++) {
          acc.sum[tag * n + e] += p[e];
          if (p[e] > p[best]) best = e;
        }
        acc.argmax[best] += 1;
        acc.counts[tag] += 1;
        acc.ent += entropy(p);
        acc.seen += 1;
      }
    });
    this.examples += tags.length;
  }

  result(): RoutingStats {
    const t = this.tagNames.length;
    const blocks: BlockRoutingStats[] = [...this.blocks.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([block, acc]) => {
        const { n } = acc;
        const meanByTag = Array.from({ length: t }, (_, i) =>
          Array.from({ length: n }, (_, e) => (acc.counts[i] > 0 ? acc.sum[i * n + e] / acc.counts[i] : 0)),
        );
        const total = acc.seen;
        const usage = Array.from({ length: n }, (_, e) => {
          let s = 0;
          for (let i = 0; i < t; i++) s += acc.sum[i * n + e];
          return s / total;
        });
        // Mutual information of the soft joint p(t, e) = sum[t][e] / total.
        const pt = Array.from(acc.counts, (c) => c / total);
        let mi = 0;
        for (let i = 0; i < t; i++) {
          for (let e = 0; e < n; e++) {
            const pj = acc.sum[i * n + e] / total;
            if (pj > 0) mi += pj * Math.log(pj / (pt[i] * usage[e]));
          }
        }
        const hT = entropy(pt);
        const hE = entropy(usage);
        return {
          block,
          source: acc.source,
          numExperts: n,
          counts: Array.from(acc.counts),
          meanByTag,
          usage,
          argmaxUsage: Array.from(acc.argmax, (c) => c / total),
          entropy: acc.ent / total,
          specialization: hT + hE > 0 ? Math.max(0, (2 * mi) / (hT + hE)) : 0,
        };
      });
    return { method: this.method, tagNames: [...this.tagNames], examples: this.examples, blocks };
  }
}

/** Save routing statistics as JSON next to a run's results. */
export async function saveRoutingStats(file: string, stats: RoutingStats): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(stats, null, 1)}\n`);
}

/** Load routing statistics saved by `saveRoutingStats` (no model needed). */
export function loadRoutingStats(file: string): RoutingStats {
  const s = readJsonFile<RoutingStats>(file);
  if (!s || !Array.isArray(s.blocks) || !Array.isArray(s.tagNames)) {
    throw new Error(`${file}: not a routing statistics file (expected {method, tagNames, blocks})`);
  }
  return s;
}
