/**
 * Ensemble — output averaging over all experts [soft_routing] (kernel-lib/docs/reference-code.md#ensemble).
 *
 *   u_b = Σ_i R(v_b)_i f_i(x_b)          (every expert runs: N× the expert compute)
 */
import { SAME_SIZE, type RoutingMethod } from '../method';

export const ensemble: RoutingMethod = {
  name: 'ensemble',
  referenceName: 'soft_routing',
  title: 'Ensemble',
  kind: 'output-mix',
  usesRouter: true,
  auxLosses: [],
  defaultExpertDropout: 0,
  configurations: [{ label: 'Ensemble', description: 'N experts, outputs mixed by the router', resolve: SAME_SIZE }],
  description: 'run every expert and mix their outputs by the router probabilities',
  mix(x, _v, _ctx, { experts, route }) {
    const { logits, probs } = route(); // [B,N]
    const mixture = experts.applyMixed(x, probs); // [B,S,C]
    return { mixture, record: { probs, logits, weights: probs }, aux: [] };
  },
};
