/**
 * Reading tensors back to the host, the one way the library does it.
 *
 * On a GPU every read waits for the device to finish the work queued before
 * it, and on the webgpu backend in Node synchronous reads (`dataSync`,
 * `arraySync`) do not work at all (tfjs-backend-webgpu implements them through
 * OffscreenCanvas). So the library never reads synchronously on its training,
 * evaluation and generation paths: it reads with `await t.data()`, and where
 * several values are needed at the same moment it packs them into one tensor
 * and reads that once (`readMany`), so a step or an evaluation batch costs one
 * round trip.
 *
 *   const packed = tf.tidy(() => packForRead([loss, tf.argMax(logits, 1)]));
 *   const [lossValue, preds] = await readPacked(packed);   // one read, disposes `packed`
 */
import * as tf from '@tensorflow/tfjs-core';

/** Several tensors flattened into one float32 vector, with the sizes to split it again. */
export interface PackedRead {
  tensor: tf.Tensor1D;
  sizes: number[];
}

/**
 * Flatten and concatenate tensors (cast to float32: integer ids below 2^24
 * stay exact) into one vector to read once. Call inside `tf.tidy` and return
 * the result (tidy keeps it); the inputs are not disposed.
 */
export function packForRead(tensors: readonly tf.Tensor[]): PackedRead {
  const sizes = tensors.map((t) => t.size);
  const flat = tensors.map((t) => tf.reshape(t.dtype === 'float32' ? t : tf.cast(t, 'float32'), [-1]));
  // reshape makes a new tensor (sharing data), so disposing the pack never disposes an input.
  const tensor = (flat.length === 1 ? flat[0] : flat.length === 0 ? tf.zeros([0]) : tf.concat(flat)) as tf.Tensor1D;
  return { tensor, sizes };
}

/** Read a packed vector once (`await data()`), dispose it, and split it back into one array per tensor. */
export async function readPacked(p: PackedRead): Promise<Float32Array[]> {
  let values: Float32Array;
  try {
    values = (await p.tensor.data()) as Float32Array;
  } finally {
    p.tensor.dispose();
  }
  const out: Float32Array[] = [];
  let at = 0;
  for (const n of p.sizes) {
    out.push(values.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** Read several tensors with one device round trip (the tensors are not disposed). */
export async function readMany(tensors: readonly tf.Tensor[]): Promise<Float32Array[]> {
  if (tensors.length === 0) return [];
  return readPacked(tf.tidy(() => packForRead(tensors) as unknown as tf.TensorContainer) as unknown as PackedRead);
}

/** Read one tensor asynchronously with its own dtype (not disposed). */
export async function readTensor(t: tf.Tensor): Promise<Float32Array | Int32Array | Uint8Array> {
  return (await t.data()) as Float32Array | Int32Array | Uint8Array;
}

/**
 * Values of a tensor given to the public API where the library validates
 * values on the host (ids, masks, tied weights). Host arrays are the way to
 * pass them (validated before upload); a tensor is read synchronously where
 * the backend can (cpu, wasm, tfjs-node), and refused with the fix on webgpu,
 * where it cannot.
 */
export function hostValuesOf(t: tf.Tensor, what: string): ArrayLike<number> {
  if (tf.getBackend() === 'webgpu') {
    throw new Error(
      `${what}: got a tf.Tensor; on the webgpu backend pass host arrays (Int32Array, Float32Array, number[] or number[][]), ` +
        'which are validated before upload (a tensor would need a synchronous GPU read, which the webgpu backend in Node cannot do)',
    );
  }
  return t.dataSync() as ArrayLike<number>;
}
