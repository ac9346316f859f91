/**
 * A single adapter — "1× compute" and "1× parameters" [routing_estimator None, num_adapters 1]
 * (kernel-lib/docs/reference-code.md#one-adapter).
 *
 *   u = swish(x W_down + b_down) W_up
 *
 * "1× compute": the setting's bottleneck d (T5 24, ResNet 32). "1× parameters":
 * d × N (T5 192, ResNet 192), the routed methods' expert parameter count.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RoutingMethod } from '../method';
import { Experts } from '../experts';

export const dense: RoutingMethod = {
  name: 'dense',
  referenceName: 'None',
  title: 'Single adapter',
  kind: 'dense',
  usesRouter: false,
  auxLosses: [],
  defaultExpertDropout: 0,
  configurations: [
    {
      label: '1× compute',
      description: 'one adapter with the routed experts’ bottleneck (N = 1)',
      resolve: (base) => ({ numExperts: 1, bottleneck: base.bottleneck }),
    },
    {
      label: '1× parameters',
      description: 'one adapter N× wider, as many parameters as N experts (T5 d = 192, ResNet d = 192)',
      resolve: (base) => ({ numExperts: 1, bottleneck: base.bottleneck * base.numExperts }),
    },
  ],
  description: 'one adapter for every example (no routing)',
  validate(cfg) {
    if (cfg.numExperts !== 1) {
      throw new Error(`method 'dense': numExperts must be 1 (a single adapter), got ${cfg.numExperts}`);
    }
  },
  mix(x, _v, _ctx, { experts }) {
    const mixture = tf.tidy(() =>
      Experts.applyShared(
        x,
        tf.squeeze(experts.down, [0]) as tf.Tensor2D, // [C,d]
        tf.squeeze(experts.downBias, [0]) as tf.Tensor1D, // [d]
        tf.squeeze(experts.up, [0]) as tf.Tensor2D, // [d,C]
      ),
    );
    return { mixture, record: {}, aux: [] };
  },
};
