/**
 * SMEAR — Soft Merging of Experts with Adaptive Routing [parameter_averaging_routing]
 * (kernel-lib/docs/reference-code.md#smear).
 *
 *   p_b = R(v_b)                                   (expert dropout 0.1 in training)
 *   W̄_down,b = Σ_i p_b,i W_down[i],  b̄_b = Σ_i p_b,i b_down[i],  W̄_up,b = Σ_i p_b,i W_up[i]
 *   u_b = swish(x_b W̄_down,b + b̄_b) W̄_up,b
 *
 * One merged expert per example: the cost of one adapter plus a merge of
 * 2·N·(2·C·d + d) FLOPs, with exact gradients into the router and every expert.
 */
import { SAME_SIZE, TWICE_EXPERTS, type RoutingMethod } from '../method';

export const smear: RoutingMethod = {
  name: 'smear',
  referenceName: 'parameter_averaging_routing',
  title: 'SMEAR',
  kind: 'merge',
  usesRouter: true,
  auxLosses: [],
  defaultExpertDropout: 0.1,
  configurations: [
    { label: 'SMEAR', description: 'N experts (T5: 8, ResNet: 6)', resolve: SAME_SIZE },
    { label: 'SMEAR 2×', description: 'twice the experts (T5: 16, ResNet: 12)', resolve: TWICE_EXPERTS },
  ],
  description: 'merge all experts into one per example, weighted by the router',
  mix(x, _v, _ctx, { experts, route }) {
    const { logits, probs } = route(); // [B,N]
    const mixture = experts.applyMerged(x, experts.merge(probs)); // [B,S,C]
    return { mixture, record: { probs, logits, weights: probs }, aux: [] };
  },
};
