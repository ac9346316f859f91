/**
 * UnsortedSegmentSum: missing from tfjs-backend-wasm 4.22, and it is the
 * gradient of tf.gather, so any embedding lookup fails to train on wasm.
 * One JS pass over the wasm heap: out[segmentIds[i], ...] += x[i, ...].
 * Ids outside [0, numSegments) are dropped (TensorFlow semantics). float32 and
 * int32. No speed-up to report: there was no kernel before.
 */
import * as tf from '@tensorflow/tfjs-core';
import { KernelArgs, asWasm, zerosOutput } from './wasm-util';

export function unsortedSegmentSumFill(args: KernelArgs): tf.TensorInfo {
  const backend = asWasm(args.backend);
  const { x, segmentIds } = args.inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const { numSegments } = args.attrs as unknown as { numSegments: number };
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum (wasm fill): x must be float32 or int32, got ${x.dtype}`);
  }
  if (segmentIds.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum (wasm fill): segmentIds must be int32, got ${segmentIds.dtype}`);
  }
  const idRank = segmentIds.shape.length;
  tf.util.assert(
    tf.util.arraysEqual(x.shape.slice(0, idRank), segmentIds.shape),
    () => `UnsortedSegmentSum: segmentIds shape ${segmentIds.shape} must be a prefix of x shape ${x.shape}`,
  );
  const inner = tf.util.sizeFromShape(x.shape.slice(idRank));
  const outShape = [numSegments, ...x.shape.slice(idRank)];
  const out = zerosOutput(backend, outShape, x.dtype);
  const n = tf.util.sizeFromShape(segmentIds.shape);
  if (n === 0 || inner === 0 || numSegments === 0) return out;
  const ov = backend.typedArrayFromHeap(out) as Float32Array | Int32Array;
  const xv = backend.typedArrayFromHeap(x) as Float32Array | Int32Array;
  const ids = backend.typedArrayFromHeap(segmentIds) as Int32Array;
  for (let i = 0; i < n; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    let dst = s * inner;
    let src = i * inner;
    for (let j = 0; j < inner; j++) ov[dst++] += xv[src++];
  }
  return out;
}
