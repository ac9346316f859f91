/**
 * Names at the edges: our routing-block parameter names ↔ the reference
 * implementation's `AdapterController` state-dict names and layouts
 * (r-three/smear: hyperformer `adapter_controller_fast.py` for T5, cvl
 * `adapter_controller_resnet_fast.py` for ResNet). Both settings use this
 * one table; the models add their own prefixes (`layer1.0.adapter_controller.`,
 * `encoder.block.0.layer.0.adapter_controller.`).
 *
 * The reference keeps a router axis M = 1 in front of expert, router and
 * baseline tensors; Soft MoE stores its slot logits as the router weights
 * [C,N,P] and its scales as [N,P].
 */
export type ReferenceSetting = 'resnet' | 't5';

/**
 * The reference name of one of our routing parameters (relative to
 * `adapter_controller.`), or null where the reference has no such tensor
 * (the softmax router's weights under DSelect-k and Soft MoE, whose routers
 * replace them).
 */
export function routingReferenceName(setting: ReferenceSetting, method: string, ours: string): string | null {
  // The REINFORCE baseline module is `multi_baselines` in the T5 code, `multi_router_baselines` in the ResNet code.
  const baseline = setting === 't5' ? 'multi_baselines' : 'multi_router_baselines';
  switch (ours) {
    case 'experts.down':
      return 'multi_adapters.down_samplers_weights';
    case 'experts.downBias':
      return 'multi_adapters.down_samplers_bias';
    case 'experts.up':
      return 'multi_adapters.up_samplers_weights';
    case 'router.weight':
      return method === 'dselect-k' || method === 'soft-moe' ? null : 'multi_routers.router_weights';
    case 'router.inNorm.gain':
      return 'multi_routers.multi_router_layer_norms.0.weight';
    case 'router.inNorm.bias':
      return 'multi_routers.multi_router_layer_norms.0.bias';
    case 'router.weightNorm.gain':
      return 'multi_routers.multi_router_weights_layer_norms.0.weight';
    case 'router.weightNorm.bias':
      return 'multi_routers.multi_router_weights_layer_norms.0.bias';
    case 'postNorm.gain':
      return 'post_layer_norm.weight';
    case 'postNorm.bias':
      return 'post_layer_norm.bias';
    case 'baseline.w1':
      return `${baseline}.down_samplers_weights`;
    case 'baseline.b1':
      return `${baseline}.down_samplers_bias`;
    case 'baseline.w2':
      return `${baseline}.up_samplers_weights`;
    case 'baseline.b2':
      return `${baseline}.up_samplers_bias`;
    case 'dselect.z':
      return 'multi_routers.z_logits';
    case 'dselect.w':
      return 'multi_routers.w_logits';
    case 'skills.logits':
      return 'skill_weights';
    case 'softmoe.phi':
      return 'multi_routers.router_weights';
    case 'softmoe.scale':
      return 'multi_routers.scales';
    default:
      throw new Error(`routing parameter '${ours}' has no reference state-dict name (${setting} setting, method '${method}')`);
  }
}

/** The reference layout of one of our routing parameters (all are pure reshapes of ours). */
export function routingReferenceShape(ours: string, shape: number[], cfg: { numExperts: number; slotsPerExpert: number }): number[] {
  switch (ours) {
    case 'experts.down': // [N,C,d] → [1,N,C,d]
    case 'experts.downBias': // [N,d] → [1,N,d]
    case 'experts.up': // [N,d,C] → [1,N,d,C]
    case 'router.weight': // [C,N] → [1,C,N]
    case 'baseline.w1': // [C,h] → [1,C,h]
    case 'baseline.b1': // [h] → [1,h]
    case 'baseline.w2': // [h,1] → [1,h,1]
    case 'baseline.b2': // [1] → [1,1]
    case 'dselect.z': // [C,m] → [1,C,m]
      return [1, ...shape];
    case 'softmoe.phi': // [C,N·P] → [C,N,P]
      return [shape[0], cfg.numExperts, cfg.slotsPerExpert];
    case 'softmoe.scale': // [N·P] → [N,P]
      return [cfg.numExperts, cfg.slotsPerExpert];
    default: // LayerNorm vectors [C], dselect.w [C,1], skills [T,N]
      return shape;
  }
}
