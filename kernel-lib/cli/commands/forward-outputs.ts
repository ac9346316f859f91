/** What `smear forward` writes for both settings: logits and the routing record of every block. */
import * as tf from '@tensorflow/tfjs-core';
import { readMany } from '../../backend/host-read';
import type { TensorToWrite } from '../../io/safetensors';

/** A forward pass's logits and routing records, as `smear forward` writes them. */
export interface ForwardTensors {
  logits: tf.Tensor;
  records: readonly { probs?: tf.Tensor; index?: tf.Tensor }[];
}

/**
 * The output file's tensors: `logits`, `routing.<k>` (router probabilities)
 * and `expert_index.<k>` (int64) per routing block. Reads them with one
 * device round trip and disposes them.
 */
export async function forwardOutputs(res: ForwardTensors): Promise<Record<string, TensorToWrite>> {
  const order: { key: string; t: tf.Tensor; index: boolean }[] = [{ key: 'logits', t: res.logits, index: false }];
  res.records.forEach((r, k) => {
    if (r.probs) order.push({ key: `routing.${k}`, t: r.probs, index: false });
    if (r.index) order.push({ key: `expert_index.${k}`, t: r.index, index: true });
  });
  try {
    const values = await readMany(order.map((o) => o.t));
    const out: Record<string, TensorToWrite> = {};
    order.forEach((o, i) => {
      out[o.key] = o.index
        ? { dtype: 'I64', shape: o.t.shape, data: Int32Array.from(values[i]) }
        : { dtype: 'F32', shape: o.t.shape, data: Float32Array.from(values[i]) };
    });
    return out;
  } finally {
    tf.dispose(res as unknown as tf.TensorContainer);
  }
}
