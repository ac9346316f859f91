/**
 * BatchNorm (kernel-lib/models/resnet/batchnorm.ts): the training-mode
 * hand-written gradient (batchNormTrain) against central finite differences
 * of a float64 plain-JS BatchNorm, the forward and running statistics against
 * the same oracle (PyTorch BatchNorm2d semantics), on cpu and wasm.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../kernel-lib/backend';
import { Rng } from '../../kernel-lib/util/rng';
import { BatchNorm, batchNormTrain } from '../../kernel-lib/models/resnet/batchnorm';

const EPS = 1e-5;

/** float64 training-mode BN over rows of x [n, C] (channels last): y, batch mean, biased variance. */
function bnOracle(x: number[], C: number, w: number[], b: number[]) {
  const n = x.length / C;
  const mean = new Array(C).fill(0);
  const varb = new Array(C).fill(0);
  for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) mean[c] += x[i * C + c] / n;
  for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) varb[c] += (x[i * C + c] - mean[c]) ** 2 / n;
  const y = x.map((v, k) => ((v - mean[k % C]) / Math.sqrt(varb[k % C] + EPS)) * w[k % C] + b[k % C]);
  return { y, mean, varb, n };
}

/** L = Σ y·r in float64. */
const lossOf = (x: number[], C: number, w: number[], b: number[], r: number[]) =>
  bnOracle(x, C, w, b).y.reduce((s, v, k) => s + v * r[k], 0);

/** Central differences of L with respect to every entry of `which`. */
function finiteDiff(which: number[], L: () => number, h = 1e-5): number[] {
  return which.map((_, k) => {
    const keep = which[k];
    which[k] = keep + h;
    const up = L();
    which[k] = keep - h;
    const down = L();
    which[k] = keep;
    return (up - down) / (2 * h);
  });
}

function assertClose(got: ArrayLike<number>, want: number[], what: string, tol: number): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const scale = Math.max(1, ...want.map(Math.abs));
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= tol * scale)) assert.fail(`${what}[${i}] = ${got[i]}, oracle ${want[i]} (tol ${tol})`);
  }
}

const f32 = (a: ArrayLike<number>) => Array.from(Float32Array.from(a));

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`BatchNorm, training mode (${backend})`, () => {
    before(async () => {
      await initBackend({ backend, quiet: true });
    });

    for (const [shape, offset, std] of [[[3, 4, 5, 6], 3, 2], [[2, 7, 3], 3, 2], [[4, 3, 5], 200, 0.5]] as [number[], number, number][]) {
      it(`gradients wrt x, weight and bias match finite differences of a float64 BN (input [${shape}], mean ${offset}, std ${std})`, () => {
        const rng = new Rng(7);
        const C = shape[shape.length - 1];
        const size = shape.reduce((a, c) => a * c, 1);
        // A common offset checks that the statistics are centred (no cancellation in σ² or Σ dy·(x − μ)).
        const x = f32(rng.normal(size, std).map((v) => v + offset));
        const w = f32(rng.normal(C, 0.5).map((v) => v + 1));
        const b = f32(rng.normal(C, 0.5));
        const r = f32(rng.normal(size, 1));
        const gx = finiteDiff(x, () => lossOf(x, C, w, b, r));
        const gw = finiteDiff(w, () => lossOf(x, C, w, b, r));
        const gb = finiteDiff(b, () => lossOf(x, C, w, b, r));
        const got = tf.tidy(() => {
          const rt = tf.tensor(r, shape);
          const g = tf.grads((xt: tf.Tensor, wt: tf.Tensor, bt: tf.Tensor) => tf.sum(tf.mul(batchNormTrain(xt, wt, bt, EPS), rt)));
          return g([tf.tensor(x, shape), tf.tensor1d(w), tf.tensor1d(b)]).map((t) => t.dataSync());
        });
        assertClose(got[0], gx, 'dL/dx', 1e-4);
        assertClose(got[1], gw, 'dL/dweight', 1e-4);
        assertClose(got[2], gb, 'dL/dbias', 1e-4);
      });
    }

    it('BatchNorm.apply(training): output and PyTorch running statistics (unbiased variance, momentum 0.1)', () => {
      const rng = new Rng(8);
      const shape = [2, 3, 3, 4];
      const C = 4;
      const x = f32(rng.normal(72, 1.5).map((v) => v - 1));
      const bn = new BatchNorm({ channels: C, name: `bn-test-${backend}` });
      const w = f32(rng.normal(C, 0.3).map((v) => v + 1));
      const b = f32(rng.normal(C, 0.3));
      bn.weight.assign(tf.tensor1d(w));
      bn.bias.assign(tf.tensor1d(b));
      const y = tf.tidy(() => bn.apply(tf.tensor(x, shape), true).dataSync());
      const o = bnOracle(x, C, w, b);
      assertClose(y, o.y, 'y', 1e-4);
      assertClose(bn.runningMean.dataSync(), o.mean.map((m) => 0.1 * m), 'running_mean', 1e-5);
      assertClose(bn.runningVar.dataSync(), o.varb.map((v) => 0.9 + (0.1 * v * o.n) / (o.n - 1)), 'running_var', 1e-5);
      assert.equal(bn.numBatchesTracked, 1);
      // Through a tape: the gradient reaches weight and bias, and running statistics update once.
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(bn.apply(tf.tensor(x, shape), true))) as tf.Scalar, [bn.weight, bn.bias]);
      assert.ok(grads[bn.weight.name] && grads[bn.bias.name]);
      assert.equal(bn.numBatchesTracked, 2);
      tf.dispose([value, ...Object.values(grads)]);
      bn.dispose();
    });
  });
}
