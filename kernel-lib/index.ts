/**
 * smear-ts: Soft Merging of Experts with Adaptive Routing (SMEAR) and the
 * routing methods it is compared with, on TensorFlow.js.
 *
 *   import { initBackend, RoutingBlock, Rng, tf } from './kernel-lib';
 *
 * See kernel-lib/README.md for the architecture.
 */
export { initBackend, backendInfo, BACKEND_ORDER, tf } from './backend';
export type { BackendInfo, BackendName, InitBackendOptions } from './backend';
export { Rng } from './util/rng';
export type { RngState } from './util/rng';
export * from './routing';
