import * as tf from '@tensorflow/tfjs-core';
import type { AuxLoss } from './types';

/** Σ weight · value over auxiliary losses (a scalar 0 when there are none). */
export function totalAuxLoss(aux: readonly AuxLoss[]): tf.Scalar {
  return tf.tidy(() => aux.reduce<tf.Scalar>((s, a) => tf.add(s, tf.mul(a.weight, a.value)), tf.scalar(0)));
}
