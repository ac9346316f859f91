/**
 * Kernel fills for the webgpu backend (registered by `initBackend` after
 * `require('@tensorflow/tfjs-backend-webgpu')`, before `tf.setBackend('webgpu')`).
 *
 * tfjs-backend-webgpu 4.22 gets some kernels wrong on real inputs; each fill
 * here replaces one, keeps the original for the cases it handles, and is
 * tested against the cpu backend (test/backend/webgpu.test.ts):
 *   AddN   the original binds every input as a storage buffer of one shader,
 *          so more than `maxStorageBuffersPerShaderStage − 1` inputs (7 on
 *          SwiftShader, 8–10 on common GPUs) is a WebGPU validation error that
 *          tfjs does not check, and the result is garbage: the global gradient
 *          norm over a model's parameters (train/optimizer.ts) has dozens of
 *          inputs. The fill sums in chunks that fit, as the backend's own
 *          Concat already does.
 *
 * Idempotent: a second call changes nothing.
 */
import * as tf from '@tensorflow/tfjs-core';

type Backend = { device: { limits: { maxStorageBuffersPerShaderStage: number } }; disposeData(id: unknown): void };
type Args = { inputs: tf.TensorInfo[] | Record<string, tf.TensorInfo>; backend: Backend; attrs?: Record<string, unknown> };

let registered = false;

export function registerWebGpuFills(): void {
  if (registered) return;
  const original = tf.getKernel('AddN', 'webgpu');
  if (!original) return; // the package is not loaded
  registered = true;
  const run = original.kernelFunc as unknown as (a: Args) => tf.TensorInfo;
  const addN = (args: Args): tf.TensorInfo => {
    const inputs = Object.values(args.inputs) as tf.TensorInfo[];
    const max = Math.max(2, args.backend.device.limits.maxStorageBuffersPerShaderStage - 1);
    if (inputs.length <= max) return run(args);
    // Sum chunks of `max`, then the partial sums, until one shader can take them all.
    const partials: tf.TensorInfo[] = [];
    let level = inputs;
    while (level.length > max) {
      const next: tf.TensorInfo[] = [];
      for (let i = 0; i < level.length; i += max) {
        const chunk = level.slice(i, i + max);
        if (chunk.length === 1) next.push(chunk[0]);
        else {
          const sum = run({ ...args, inputs: chunk });
          partials.push(sum);
          next.push(sum);
        }
      }
      level = next;
    }
    const out = run({ ...args, inputs: level });
    for (const t of partials) args.backend.disposeData(t.dataId);
    return out;
  };
  tf.unregisterKernel('AddN', 'webgpu');
  tf.registerKernel({ kernelName: 'AddN', backendName: 'webgpu', kernelFunc: addN as unknown as tf.KernelFunc });
}

/** Kernel names the fills cover (for tests and diagnostics). */
export const WEBGPU_FILLED_KERNELS: readonly string[] = ['AddN'];
