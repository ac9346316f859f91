/**
 * wasm kernel fills: original tfjs-backend-wasm 4.22 kernels vs the fills in
 * kernel-lib/backend/wasm-fills, side by side.
 *
 *   node --import tsx bench/wasm-kernels.bench.ts [--reps N]
 *
 * The original BatchMatMul / Conv2DBackpropInput are timed by temporarily
 * re-registering them; Conv2DBackpropFilter has no original (missing), so the
 * forward conv2d of the same shape is shown as a yardstick.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../kernel-lib/backend';
import { originalBatchMatMul } from '../kernel-lib/backend/wasm-fills/batch-mat-mul';
import { originalConv2DBackpropInput } from '../kernel-lib/backend/wasm-fills/conv2d-backprop';
import { KernelArgs } from '../kernel-lib/backend/wasm-fills/wasm-util';

const repsArg = process.argv.indexOf('--reps');
const REPS = repsArg > 0 ? Number(process.argv[repsArg + 1]) : 5;

function timeMs(fn: () => void, reps = REPS): number {
  fn(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** Run `fn` with `kernelName` temporarily served by `kernelFunc`. */
function withKernel(kernelName: string, kernelFunc: (a: KernelArgs) => tf.TensorInfo, fn: () => void): void {
  const fill = tf.getKernel(kernelName, 'wasm');
  if (!fill) throw new Error(`no ${kernelName} kernel on wasm`);
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  try {
    fn();
  } finally {
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel(fill);
  }
}

interface Row {
  name: string;
  gflop: number;
  original: number | null;
  fill: number;
  note?: string;
}

const rows: Row[] = [];

function benchMatMul(aShape: number[], bShape: number[], tA: boolean, tB: boolean, note?: string): void {
  const a = tf.randomNormal(aShape);
  const b = tf.randomNormal(bShape);
  const run = (): void => tf.tidy(() => void tf.matMul(a, b, tA, tB));
  const outShape = tf.tidy(() => tf.matMul(a, b, tA, tB).shape);
  const K = tA ? aShape[aShape.length - 2] : aShape[aShape.length - 1];
  const gflop = (2 * K * outShape.reduce((x, y) => x * y, 1)) / 1e9;
  let original = 0;
  withKernel('BatchMatMul', originalBatchMatMul, () => {
    original = timeMs(run);
  });
  const fill = timeMs(run);
  rows.push({
    name: `matMul [${aShape}]${tA ? 'ᵀ' : ''} @ [${bShape}]${tB ? 'ᵀ' : ''}`,
    gflop,
    original,
    fill,
    note,
  });
  tf.dispose([a, b]);
}

function benchConv(xShape: number[], fShape: number[], stride: number, pad: 'same' | 'valid'): void {
  const xs = xShape as [number, number, number, number];
  const fs = fShape as [number, number, number, number];
  const x = tf.randomNormal(xs) as tf.Tensor4D;
  const f = tf.randomNormal(fs) as tf.Tensor4D;
  const y = tf.conv2d(x, f, stride, pad);
  const dy = tf.randomNormal(y.shape as [number, number, number, number]) as tf.Tensor4D;
  const gflop = (2 * y.size * fShape[0] * fShape[1] * fShape[2]) / 1e9;
  const tag = `[${xShape}] ${fShape[0]}x${fShape[1]}x${fShape[2]}->${fShape[3]} s${stride} ${pad}`;
  const fwd = timeMs(() => tf.tidy(() => void tf.conv2d(x, f, stride, pad)), 3);
  rows.push({ name: `conv2d forward ${tag}`, gflop, original: fwd, fill: fwd, note: 'yardstick (no fill)' });
  const runFilter = (): void =>
    tf.tidy(() => void tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
      strides: stride, pad, dataFormat: 'NHWC', filterShape: fs,
    }));
  rows.push({ name: `Conv2DBackpropFilter ${tag}`, gflop, original: null, fill: timeMs(runFilter, 3), note: 'missing before' });
  const runInput = (): void =>
    tf.tidy(() => void tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, {
      strides: stride, pad, dataFormat: 'NHWC', inputShape: xs,
    }));
  let original = 0;
  withKernel('Conv2DBackpropInput', originalConv2DBackpropInput, () => {
    original = timeMs(runInput, 2);
  });
  rows.push({ name: `Conv2DBackpropInput ${tag}`, gflop, original, fill: timeMs(runInput, 3) });
  tf.dispose([x, f, y, dy]);
}

async function main(): Promise<void> {
  await initBackend({ backend: 'wasm', quiet: true });
  // SMEAR's hot op: per-example (merged-expert) weights, and its gradients.
  benchMatMul([32, 128, 768], [32, 768, 24], false, false, 'SMEAR forward (down-proj)');
  benchMatMul([32, 128, 24], [32, 24, 768], false, false, 'SMEAR forward (up-proj)');
  benchMatMul([32, 128, 24], [32, 768, 24], false, true, 'grad wrt x of down-proj');
  benchMatMul([32, 128, 768], [32, 128, 24], true, false, 'grad wrt W of down-proj');
  benchMatMul([32, 128, 768], [768, 24], false, false, '3-D x 2-D (dense on [B,S,C])');
  benchMatMul([4096, 768], [768, 24], false, false, 'plain 2-D (already XNNPACK)');
  benchMatMul([4096, 768], [4096, 24], true, false, 'dense dW = xᵀ·dz');
  benchMatMul([4096, 24], [768, 24], false, true, 'dense dx = dz·Wᵀ');
  benchMatMul([768, 4096], [24, 768], true, true, 'both transposed');
  benchMatMul([4, 8, 8], [4, 8, 8], false, false, 'tiny (original kernel used)');
  benchConv([32, 56, 56, 64], [3, 3, 64, 64], 1, 'same');
  benchConv([32, 28, 28, 128], [3, 3, 128, 128], 2, 'same');

  const w = Math.max(...rows.map((r) => r.name.length));
  const fmt = (ms: number | null): string => (ms === null ? 'missing' : `${ms.toFixed(1)} ms`).padStart(10);
  console.log(`wasm kernels (tfjs ${tf.version_core}, SIMD ${tf.env().getBool('WASM_HAS_SIMD_SUPPORT')}, median of ${REPS})`);
  console.log(`${'case'.padEnd(w)}  ${'original'.padStart(10)}  ${'fill'.padStart(10)}  ${'speed-up'.padStart(8)}  ${'GFLOP/s'.padStart(7)}  note`);
  for (const r of rows) {
    const su = r.original === null ? '' : `${(r.original / r.fill).toFixed(1)}x`;
    console.log(
      `${r.name.padEnd(w)}  ${fmt(r.original)}  ${fmt(r.fill)}  ${su.padStart(8)}  ${(r.gflop / (r.fill / 1e3)).toFixed(1).padStart(7)}  ${r.note ?? ''}`,
    );
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
