/**
 * Identity, and Cast to the same dtype, without a copy (replace tfjs-backend-wasm
 * 4.22's, which copy).
 *
 * Why it matters for training: tfjs's engine keeps every tensor a gradient
 * needs through `clone` (engine.saveTensorsForBackwardMode), i.e. the Identity
 * kernel. On wasm that copied every saved activation and every saved filter of
 * a recorded step: ResNet18 at batch 32 × 64 px spent 33–47 ms per step in
 * Identity, the saved activations took twice their memory, and a cached
 * sub-filter (conv2d-backprop-as-conv.ts) never matched because each step's saved
 * filter was a fresh copy. The cpu and webgl backends share the data and count
 * a reference instead; so does wasm's own Reshape. tfjs kernels never write
 * into their inputs, so sharing is safe. Cast float32 → float32 comes from
 * ReLU's gradient (dy · cast(step(x))): 70 ms of copies per ResNet18 step at
 * batch 16 × 224 px.
 */
import * as tf from '@tensorflow/tfjs-core';
import { KernelArgs, asWasm } from './wasm-util';

type KernelFunc = (args: KernelArgs) => tf.TensorInfo;
let originalIdentity: KernelFunc | undefined;
let originalCast: KernelFunc | undefined;

export function setOriginalIdentity(config: tf.KernelConfig): void {
  originalIdentity = config.kernelFunc as unknown as KernelFunc;
}

export function setOriginalCast(config: tf.KernelConfig): void {
  originalCast = config.kernelFunc as unknown as KernelFunc;
}

function share(args: KernelArgs, x: tf.TensorInfo): tf.TensorInfo {
  const backend = asWasm(args.backend) as unknown as { incRef(dataId: object): void };
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export function identityFill(args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  // Strings live outside the heap: keep the original path.
  if (x.dtype === 'string' && originalIdentity) return originalIdentity(args);
  return share(args, x);
}

export function castFill(args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const dtype = (args.attrs as { dtype?: tf.DataType } | undefined)?.dtype;
  if (dtype === x.dtype && dtype !== 'string') return share(args, x);
  if (!originalCast) throw new Error('wasm-fills: original Cast kernel not recorded');
  return originalCast(args);
}
