/**
 * DSelect-k with N = 6 (not a power of 2): an example whose selector lands on a
 * code past N−1 (6 or 7: both leading smooth steps at 1) has q = 0 for every
 * expert, and the non-power-of-2 penalty 1/Σ_e(q_e + 1e-6) is 1/(6·1e-6) ≈ 166,667
 * for it (1/B of that in the batch mean) — the reference's value (r-three/smear,
 * cvl/src/adapters/adapter_utils.py, Router.forward_dselectk_routing), and the
 * ~520 spikes of the mini ResNet's training loss (0.1 × 166,667 / 32). Its
 * gradient is exactly zero: the smooth steps are saturated, so the penalty never
 * pulls such an example back (kernel-lib/settings/resnet/README.md).
 * Checked against the float64 oracle (test/oracle/routing-oracle.ts).
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../kernel-lib/backend';
import { Rng } from '../../kernel-lib/util/rng';
import { oracleForward } from '../oracle/routing-oracle';
import { assertClose, buildBlock, oracleConfig, randomArray, type Case } from './helpers';

const CASE: Case = { method: 'dselect-k', B: 3, S: 1, C: 5, d: 2, N: 6 };

/** Z such that example 0's selector logits x̂_0·Z are `logits` (x̂ = LN_in(v), v = x with S = 1). */
function zFor(xhat0: number[], logits: number[]): number[] {
  const n2 = xhat0.reduce((a, v) => a + v * v, 0);
  const z: number[] = [];
  for (let c = 0; c < xhat0.length; c++) for (const l of logits) z.push(Math.fround((l * xhat0[c]) / n2));
  return z;
}

describe('DSelect-k non-power-of-2 penalty (N = 6)', () => {
  before(async () => {
    await initBackend({ backend: 'cpu', quiet: true });
  });

  it('an example on a nonexistent expert: q = 0, penalty 1/(6e-6) per example as the reference computes it, and no gradient', () => {
    const { block, params } = buildBlock(CASE, 4242);
    try {
      const x = randomArray(CASE.B * CASE.C, 4243);
      const xt = tf.tensor3d(x, [CASE.B, 1, CASE.C]);
      const xhat = Array.from(block.router.normalizeInput(tf.tensor2d(x, [CASE.B, CASE.C])).dataSync());
      // Example 0: smooth-step inputs 2, 2, 2 (all ≥ γ/2 = 0.5) → code 111 = expert 7, which N = 6 lacks.
      const z = zFor(xhat.slice(0, CASE.C), [2, 2, 2]);
      block.params.get('dselect.z')!.assign(tf.tensor2d(z, [CASE.C, 3]));
      const p = { ...params, 'dselect.z': z };
      const ref = oracleForward(oracleConfig(CASE), p, x, CASE.B, 1, { training: true, rng: new Rng(1) });
      assert.deepEqual(ref.probs!.slice(0, 6), [0, 0, 0, 0, 0, 0], 'oracle: every expert weight of example 0 is 0');
      assert.ok(ref.aux.dselect_regularizer >= 1 / (6e-6) / CASE.B, `oracle regulariser ${ref.aux.dselect_regularizer} holds example 0's penalty 1/(6e-6)/B`);
      const out = block.forward(xt, { training: true, rng: new Rng(1) });
      assertClose(Array.from(out.record.probs!.dataSync()), ref.probs, 'q');
      assert.equal(out.aux.length, 1);
      assertClose([out.aux[0].value.dataSync()[0]], [ref.aux.dselect_regularizer], 'regulariser', 1e-5, 1e-3);
      assert.equal(out.aux[0].weight, 0.1);
      tf.dispose([out.y, out.mixture, ...out.aux.map((a) => a.value)]);

      // Example 0 alone: the penalty is 166,667 and its gradient with respect to Z (and everything) is 0.
      const x0 = tf.tensor3d(x.slice(0, CASE.C), [1, 1, CASE.C]);
      const zVar = block.params.get('dselect.z')!;
      const { value, grads } = tf.variableGrads(() => block.forward(x0, { training: true, rng: new Rng(1) }).aux[0].value as tf.Scalar, [zVar]);
      assertClose([value.dataSync()[0]], [1 / 6e-6], 'penalty of example 0 alone', 1e-5);
      assert.deepEqual(Array.from(grads[zVar.name].dataSync()), new Array(CASE.C * 3).fill(0), 'd penalty / d Z = 0 (saturated smooth steps)');
      // For contrast, an example inside the smooth steps' polynomial region gets a gradient.
      block.params.get('dselect.z')!.assign(tf.tensor2d(zFor(xhat.slice(0, CASE.C), [0.3, 0.3, -0.2]), [CASE.C, 3]));
      const inside = tf.variableGrads(() => block.forward(x0, { training: true, rng: new Rng(1) }).aux[0].value as tf.Scalar, [zVar]);
      assert.ok(Array.from(inside.grads[zVar.name].dataSync()).some((g) => Math.abs(g) > 1e-3), 'an unsaturated selector has a gradient');
      tf.dispose([xt, x0, value, ...Object.values(grads), inside.value, ...Object.values(inside.grads)]);
    } finally {
      block.dispose();
    }
  });
});
