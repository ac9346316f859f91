/**
 * Names at the edges: our routing-block parameter names ↔ the reference
 * implementation's `AdapterController` state-dict names and layouts
 * (r-three/smear: hyperformer `adapter_controller_fast.py` for T5, cvl
 * `adapter_controller_resnet_fast.py` for ResNet). This table holds the
 * parameters every block has (experts, router, post-LayerNorm); each method
 * declares its own and any override (`RoutingMethod.referenceParams`). The
 * models add their prefixes (`layer1.0.adapter_controller.`,
 * `encoder.block.0.layer.0.adapter_controller.`).
 *
 * The reference keeps a router axis M = 1 in front of expert and router tensors.
 */
import type { ReferenceCode, ReferenceParam, ResolvedBlockConfig, RoutingMethod } from './method';

const leadingRouterAxis = (ours: number[]) => [1, ...ours];

/** The parameters of every block. */
const SHARED: Readonly<Record<string, ReferenceParam>> = {
  'experts.down': { name: 'multi_adapters.down_samplers_weights', shape: leadingRouterAxis }, // [N,C,d] → [1,N,C,d]
  'experts.downBias': { name: 'multi_adapters.down_samplers_bias', shape: leadingRouterAxis }, // [N,d] → [1,N,d]
  'experts.up': { name: 'multi_adapters.up_samplers_weights', shape: leadingRouterAxis }, // [N,d,C] → [1,N,d,C]
  'router.weight': { name: 'multi_routers.router_weights', shape: leadingRouterAxis }, // [C,N] → [1,C,N]
  'router.inNorm.gain': { name: 'multi_routers.multi_router_layer_norms.0.weight' },
  'router.inNorm.bias': { name: 'multi_routers.multi_router_layer_norms.0.bias' },
  'router.weightNorm.gain': { name: 'multi_routers.multi_router_weights_layer_norms.0.weight' },
  'router.weightNorm.bias': { name: 'multi_routers.multi_router_weights_layer_norms.0.bias' },
  'postNorm.gain': { name: 'post_layer_norm.weight' },
  'postNorm.bias': { name: 'post_layer_norm.bias' },
};

/** Our parameter `ours` of a `method` block in the reference (null: the reference has no such tensor). */
export function referenceParam(method: RoutingMethod, ours: string): ReferenceParam | null {
  const own = method.referenceParams;
  if (own && Object.prototype.hasOwnProperty.call(own, ours)) return own[ours];
  return SHARED[ours] ?? null;
}

/**
 * The reference name of one of our routing parameters (relative to
 * `adapter_controller.`), or null where the reference has no such tensor
 * (the softmax router's weights under DSelect-k and Soft MoE, whose routers
 * replace them). An unknown parameter is an error.
 */
export function routingReferenceName(code: ReferenceCode, method: RoutingMethod, ours: string): string | null {
  const own = method.referenceParams;
  const known = (own && Object.prototype.hasOwnProperty.call(own, ours)) || Object.prototype.hasOwnProperty.call(SHARED, ours);
  if (!known) throw new Error(`routing parameter '${ours}' has no reference state-dict name (${code} code, method '${method.name}')`);
  const p = referenceParam(method, ours);
  if (!p) return null;
  return typeof p.name === 'function' ? p.name(code) : p.name;
}

/** The reference layout of one of our routing parameters (all are pure reshapes of ours). */
export function routingReferenceShape(method: RoutingMethod, ours: string, shape: number[], cfg: ResolvedBlockConfig): number[] {
  const p = referenceParam(method, ours);
  return p?.shape ? p.shape(shape, cfg) : shape;
}

/** Every reference name (both code bases) a method's own parameters have that no other method's block has: evidence of the method in a file. */
export function distinctiveReferenceNames(method: RoutingMethod, all: readonly RoutingMethod[]): string[] {
  const namesOf = (m: RoutingMethod): Set<string> => {
    const out = new Set<string>();
    const add = (p: ReferenceParam | null) => {
      if (!p) return;
      for (const code of ['resnet', 't5'] as const) out.add(typeof p.name === 'function' ? p.name(code) : p.name);
    };
    for (const p of Object.values(SHARED)) add(p);
    for (const p of Object.values(m.referenceParams ?? {})) add(p);
    return out;
  };
  const shared = new Set(Object.values(SHARED).map((p) => p.name as string));
  const others = new Set(all.filter((m) => m !== method).flatMap((m) => [...namesOf(m)]));
  return [...namesOf(method)].filter((n) => !shared.has(n) && !others.has(n));
}
