/**
 * wasm kernel fills (kernel-lib/backend/wasm-fills): every fill against the
 * cpu backend on random inputs, through gradients too, and without leaks.
 */
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initBackend } from '../../kernel-lib/backend';
import { WASM_FILLED_KERNELS } from '../../kernel-lib/backend/wasm-fills';
import { SMALL_MNK } from '../../kernel-lib/backend/wasm-fills/batch-mat-mul';
import { Rng } from '../../kernel-lib/util/rng';

const rng = new Rng(1234);

interface Arr {
  shape: number[];
  data: Float32Array | Int32Array;
  dtype: 'float32' | 'int32';
}

function rand(shape: number[]): Arr {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: rng.uniformRange(n, -1, 1), dtype: 'float32' };
}

function ints(shape: number[], max: number): Arr {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: rng.uniformInt(n, max), dtype: 'int32' };
}

const t = (a: Arr): tf.Tensor => tf.tensor(a.data, a.shape, a.dtype);

interface Result {
  shape: number[];
  data: Float32Array | Int32Array;
}

/** Run `fn` on `backend`, returning its outputs' shapes and data. */
async function on(backend: 'cpu' | 'wasm', fn: () => tf.Tensor | tf.Tensor[]): Promise<Result[]> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const r = fn();
    const list = Array.isArray(r) ? r : [r];
    return list.map((x) => ({ shape: x.shape.slice(), data: x.dataSync() as Float32Array | Int32Array }));
  });
}

function assertClose(got: Result[], want: Result[], what: string, rtol = 1e-4): void {
  assert.equal(got.length, want.length, `${what}: number of outputs`);
  for (let k = 0; k < want.length; k++) {
    assert.deepEqual(got[k].shape, want[k].shape, `${what}: shape of output ${k}`);
    const g = got[k].data;
    const w = want[k].data;
    assert.equal(g.length, w.length);
    let scale = 0;
    for (let i = 0; i < w.length; i++) scale = Math.max(scale, Math.abs(w[i]));
    const tol = rtol * Math.max(1, scale);
    for (let i = 0; i < w.length; i++) {
      if (!(Math.abs(g[i] - w[i]) <= tol)) {
        assert.fail(`${what}: output ${k}[${i}] = ${g[i]}, cpu says ${w[i]} (tol ${tol})`);
      }
    }
  }
}

/** Compare wasm with cpu for `fn`; then check repeated wasm runs leak nothing. */
async function compare(
  what: string,
  fn: () => tf.Tensor | tf.Tensor[],
  rtol = 1e-4,
  cpuFn: () => tf.Tensor | tf.Tensor[] = fn,
): Promise<void> {
  const want = await on('cpu', cpuFn);
  const got = await on('wasm', fn);
  assertClose(got, want, what, rtol);
  const backend = tf.backend() as unknown as { numDataIds(): number };
  const tensors = tf.memory().numTensors;
  const ids = backend.numDataIds();
  for (let i = 0; i < 2; i++) await on('wasm', fn);
  assert.equal(tf.memory().numTensors, tensors, `${what}: tensors leaked`);
  assert.equal(backend.numDataIds(), ids, `${what}: wasm data ids leaked`);
}

before(async () => {
  await initBackend({ backend: 'wasm', quiet: true });
});

test('fills are registered on wasm (and registration is idempotent)', async () => {
  const { registerWasmFills } = await import('../../kernel-lib/backend/wasm-fills');
  const before = tf.getKernel('BatchMatMul', 'wasm');
  registerWasmFills();
  assert.equal(tf.getKernel('BatchMatMul', 'wasm'), before);
  for (const k of WASM_FILLED_KERNELS) assert.ok(tf.getKernel(k, 'wasm'), `${k} registered`);
  // PadV2 and LogSoftmax need no fill: check they run.
  const p = rand([2, 3]);
  const l = rand([3, 7]);
  await compare('pad', () => tf.pad(t(p), [[1, 0], [0, 2]], 0.5));
  await compare('logSoftmax', () => tf.logSoftmax(t(l)));
});

test('matMul: transpose combos, batch broadcast, ranks 2/3/4', async () => {
  const cases: [number[], number[]][] = [
    // [a shape as if untransposed (..., M, K)], [b shape (..., K, N)]
    [[37, 53], [53, 29]],
    [[3, 37, 53], [3, 53, 29]],
    [[1, 37, 53], [3, 53, 29]],
    [[3, 37, 53], [1, 53, 29]],
    [[3, 37, 53], [53, 29]],
    [[37, 53], [4, 53, 29]],
    [[2, 3, 19, 41], [2, 3, 41, 23]],
    [[2, 1, 19, 41], [3, 41, 23]],
    [[5, 64, 128], [5, 128, 8]],
    [[4, 2, 3], [4, 3, 5]], // tiny: original kernel
    [[64, 1], [1, 70]], // K = 1
    [[1, 300], [300, 1]],
  ];
  for (const [sa, sb] of cases) {
    const M = sa[sa.length - 2];
    const K = sa[sa.length - 1];
    const N = sb[sb.length - 1];
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        const aShape = tA ? [...sa.slice(0, -2), K, M] : sa;
        const bShape = tB ? [...sb.slice(0, -2), N, K] : sb;
        const a = rand(aShape);
        const b = rand(bShape);
        // The cpu kernel mishandles batch dims that broadcast both ways
        // ([2,1,..] x [3,..]): give it explicitly broadcast operands.
        const outer = tf.broadcast_util.assertAndGetBroadcastShape(aShape.slice(0, -2), bShape.slice(0, -2));
        const full = (x: tf.Tensor, s: number[]) => tf.broadcastTo(x, [...outer, ...s.slice(-2)]);
        await compare(
          `matMul ${aShape}x${bShape} tA=${tA} tB=${tB}`,
          () => tf.matMul(t(a), t(b), tA, tB),
          1e-4,
          () => (outer.length ? tf.matMul(full(t(a), aShape), full(t(b), bShape), tA, tB) : tf.matMul(t(a), t(b), tA, tB)),
        );
      }
    }
  }
  assert.ok(37 * 53 * 29 > SMALL_MNK, 'cases exercise the XNNPACK paths');
});

test('matMul: empty and zero-K shapes, errors', async () => {
  await compare('matMul K=0', () => tf.matMul(tf.zeros([3, 0]), tf.zeros([0, 4])));
  await compare('matMul M=0', () => tf.matMul(tf.zeros([2, 0, 5]), tf.ones([2, 5, 4])));
  await tf.setBackend('wasm');
  assert.throws(() => tf.matMul(tf.ones([3, 4]), tf.ones([5, 6])), /inner shapes/);
  assert.throws(() => tf.matMul(tf.ones([2, 3, 4]), tf.ones([3, 4, 6])), /broadcast/i);
});

test('matMul gradients (per-example weights, dense layer)', async () => {
  const x = rand([4, 32, 48]);
  const w = rand([4, 48, 24]);
  const w2 = rand([48, 24]);
  await compare('grad bmm', () => {
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.matMul(a, b))));
    return g([t(x), t(w)]);
  });
  // (tfjs 4.22's BatchMatMul gradient does not reduce broadcast batch dims, so the
  // dense case uses a 2-D input, as tf.layers.dense does.)
  const x2 = rand([128, 48]);
  await compare('grad dense', () => {
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.tanh(tf.matMul(a, b))));
    return g([t(x2), t(w2)]);
  });
  const xt = rand([48, 128]);
  const wt = rand([24, 48]);
  await compare('grad dense transposed', () => {
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.tanh(tf.matMul(a, b, true, true))));
    return g([t(xt), t(wt)]);
  });
});

type ConvPad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
const convCases: { x: number[]; f: number[]; s: number | [number, number]; pad: ConvPad }[] = [
  { x: [2, 9, 9, 3], f: [3, 3, 3, 5], s: 1, pad: 'same' },
  // stride 1 runs the input gradient as a conv with the rotated filter: explicit, asymmetric
  // and even-sized paddings, and one padding beyond KH-1 (falls back to im2col).
  { x: [2, 9, 9, 3], f: [3, 3, 3, 5], s: 1, pad: 1 },
  { x: [2, 8, 7, 3], f: [3, 3, 3, 4], s: 1, pad: [[0, 0], [0, 2], [1, 0], [0, 0]] },
  { x: [1, 12, 12, 3], f: [7, 7, 3, 4], s: 1, pad: 3 },
  { x: [2, 6, 7, 4], f: [2, 2, 4, 3], s: 1, pad: 'same' },
  { x: [2, 7, 6, 3], f: [2, 2, 3, 4], s: 1, pad: 2 },
  // strides > 1 run as one conv per output phase (ResNet18's 3×3/2 pad 1 and 1×1/2 downsample
  // on even and odd maps; stride 3; unequal strides), or fall back to im2col.
  { x: [2, 8, 8, 4], f: [3, 3, 4, 5], s: 2, pad: 1 },
  { x: [2, 9, 7, 4], f: [3, 3, 4, 5], s: 2, pad: 1 },
  { x: [2, 8, 8, 4], f: [1, 1, 4, 6], s: 2, pad: 'valid' },
  { x: [1, 11, 10, 3], f: [4, 5, 3, 2], s: 3, pad: [[0, 0], [2, 1], [0, 3], [0, 0]] },
  { x: [2, 9, 8, 3], f: [3, 2, 3, 4], s: [3, 2], pad: 'same' },
  { x: [2, 9, 9, 3], f: [3, 3, 3, 5], s: 2, pad: 'same' },
  { x: [3, 10, 7, 4], f: [3, 2, 4, 6], s: 1, pad: 'valid' },
  { x: [3, 10, 7, 4], f: [3, 3, 4, 6], s: [2, 1], pad: 'valid' },
  { x: [1, 11, 11, 2], f: [5, 5, 2, 3], s: 2, pad: 1 },
  { x: [2, 8, 8, 16], f: [1, 1, 16, 8], s: 2, pad: 'same' },
];

test('Conv2DBackpropFilter / Conv2DBackpropInput vs cpu', async () => {
  for (const c of convCases) {
    const x = rand(c.x);
    const f = rand(c.f);
    let dyShape: number[] = [];
    await on('cpu', () => {
      const y = tf.conv2d(t(x) as tf.Tensor4D, t(f) as tf.Tensor4D, c.s, c.pad);
      dyShape = y.shape;
      return y;
    });
    const dy = rand(dyShape);
    const tag = `x=${c.x} f=${c.f} s=${c.s} pad=${c.pad}`;
    await compare(`conv2DBackpropFilter ${tag}`, () =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x: t(x), dy: t(dy) }, {
        strides: c.s,
        pad: c.pad,
        dataFormat: 'NHWC',
        filterShape: c.f,
      }) as tf.Tensor,
    );
    await compare(`conv2dTranspose / backpropInput ${tag}`, () =>
      tf.engine().runKernel('Conv2DBackpropInput', { dy: t(dy), filter: t(f) }, {
        strides: c.s,
        pad: c.pad,
        dataFormat: 'NHWC',
        inputShape: c.x,
      }) as tf.Tensor,
    );
    await compare(`grad conv2d ${tag}`, () => {
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad), t(dy))),
      );
      return g([t(x), t(f)]);
    });
  }
});

test('Conv2D backprop: chunked over examples', async () => {
  const { convTuning } = await import('../../kernel-lib/backend/wasm-fills/conv2d-backprop');
  const saved = convTuning.chunkElems;
  convTuning.chunkElems = 3 * 3 * 8 * 12 * 12 * 2; // two examples per chunk, 5 examples
  try {
    const x = rand([5, 12, 12, 8]);
    const f = rand([3, 3, 8, 4]);
    await compare('grad conv2d (chunk path)', () => {
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'))),
      );
      return g([t(x), t(f)]);
    }, 2e-4);
  } finally {
    convTuning.chunkElems = saved;
  }
});

test('depthwise conv2d gradients vs cpu', async () => {
  const cases: { x: number[]; f: number[]; s: number; pad: 'same' | 'valid'; d: number }[] = [
    { x: [2, 9, 9, 3], f: [3, 3, 3, 2], s: 1, pad: 'same', d: 1 },
    { x: [2, 9, 8, 4], f: [3, 3, 4, 1], s: 2, pad: 'valid', d: 1 },
    { x: [1, 10, 10, 2], f: [3, 3, 2, 3], s: 1, pad: 'valid', d: 1 },
  ];
  for (const c of cases) {
    const x = rand(c.x);
    const f = rand(c.f);
    await compare(`grad depthwiseConv2d x=${c.x} f=${c.f} s=${c.s} ${c.pad} d=${c.d}`, () => {
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.square(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad, 'NHWC', c.d))),
      );
      return g([t(x), t(f)]);
    });
  }
});

test('UnsortedSegmentSum and the gradient of gather', async () => {
  const x = rand([7, 5]);
  const ids = ints([7], 4);
  await compare('unsortedSegmentSum', () => tf.unsortedSegmentSum(t(x), t(ids) as tf.Tensor1D, 4));
  const xi = ints([6, 3], 100);
  const idi = ints([6], 3);
  await compare('unsortedSegmentSum int32', () => tf.unsortedSegmentSum(t(xi), t(idi) as tf.Tensor1D, 3));
  const table = rand([10, 6]);
  const idx = ints([4, 3], 10);
  await compare('grad gather', () => {
    const g = tf.grad((w: tf.Tensor) => tf.sum(tf.square(tf.gather(w, t(idx)))));
    return g(t(table));
  });
  const idx1 = ints([5], 6);
  await compare('grad gather axis 1', () => {
    const g = tf.grad((w: tf.Tensor) => tf.sum(tf.sin(tf.gather(w, t(idx1), 1))));
    return g(t(table));
  });
});

test('Einsum vs cpu', async () => {
  const a = rand([3, 4, 5]);
  const b = rand([3, 5, 6]);
  const m = rand([4, 4]);
  await compare('einsum bij,bjk->bik', () => tf.einsum('bij,bjk->bik', t(a), t(b)));
  await compare('einsum ii->i... trace-free ij->ji', () => tf.einsum('ij->ji', t(m)));
  await compare('einsum ij->ij (identity)', () => tf.einsum('ij->ij', t(m)));
  await compare('einsum bij->b', () => tf.einsum('bij->b', t(a)));
  const n = rand([4, 3]);
  await compare('einsum ij,jk->ik', () => tf.einsum('ij,jk->ik', t(m), t(n)));
});

test('Identity and same-dtype Cast share data (no copy) and stay correct', async () => {
  await tf.setBackend('wasm');
  const backend = tf.backend() as unknown as { numDataIds(): number };
  const ids = backend.numDataIds();
  const a = tf.tensor([1.5, -2, 3], [3]);
  const b = tf.clone(a);
  const c = tf.cast(a, 'float32');
  assert.equal(backend.numDataIds(), ids + 1, 'clone and same-dtype cast allocate nothing');
  a.dispose();
  assert.deepEqual(Array.from(b.dataSync()), [1.5, -2, 3], 'a clone outlives its source');
  b.dispose();
  assert.deepEqual(Array.from(c.dataSync()), [1.5, -2, 3]);
  c.dispose();
  assert.equal(backend.numDataIds(), ids, 'freed once every sharer is disposed');
  // Casts that change the dtype still convert (original kernel).
  await compare('cast float32 -> int32', () => tf.cast(tf.tensor([1.7, -2.2, 0]), 'int32'));
  await compare('cast bool -> float32', () => tf.cast(tf.tensor([1, 0, 1], undefined, 'bool'), 'float32'));
  // ReLU's gradient (step, same-dtype cast) and saved-tensor clones under a tape.
  const x = rand([4, 5]);
  await compare('grad relu', () => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.relu(v), tf.relu(v))))(t(x)));
});

test('channel moments and sums (one-sweep BatchNorm statistics) vs cpu, incl. a large common offset', async () => {
  const { channelMoments, channelSums } = await import('../../kernel-lib/backend/channel-ops');
  for (const shape of [[3, 5, 4, 6], [7, 9], [2, 3, 130]]) {
    const C = shape[shape.length - 1];
    const x = rand(shape);
    // 300 ± 1: E[x²] − mean² in float32 would lose the variance; float64 sums must not.
    const offset: Arr = { ...x, data: Float32Array.from(x.data, (v) => 300 + v) };
    const dy = rand(shape);
    const mu = rand([C]);
    for (const [what, xs] of [['x', x], ['x + 300', offset]] as const) {
      await compare(`channelMoments ${what} [${shape}]`, () => {
        const m = channelMoments(t(xs));
        return [m.mean, m.variance];
      }, 1e-5);
      await compare(`channelSums ${what} [${shape}]`, () => {
        const s = channelSums(t(dy), t(xs), t({ ...mu, data: Float32Array.from(mu.data, (v) => (what === 'x' ? v : 300 + v)) }) as tf.Tensor1D);
        return [s.sumA, s.sumAB];
      }, 1e-5);
    }
  }
  await tf.setBackend('wasm');
  assert.throws(() => tf.engine().runKernel('SmearChannelSums', { a: t(rand([2, 3])), b: t(rand([3, 2])) }), /SmearChannelSums: inputs have shapes \[2,3\] and \[3,2\], expected equal/);
});
