/** The routing library: SMEAR and every baseline behind one block interface. */
export * from './types';
export type { RoutingMethod, ResolvedBlockConfig, MethodConfiguration, AuxLossInfo } from './method';
export { RoutingBlock, resolveBlockConfig } from './block';
export type { NamedParam } from './block';
export { METHODS, getMethod, methodNames } from './registry';
export { Experts } from './experts';
export { Router } from './router';
export { reinforceLosses, REINFORCE_DEFAULTS } from './methods/reinforce';
export { adamixConsistency } from './methods/adamix';
export { smoothStep } from './methods/dselect-k';
export { GumbelSchedule } from './schedules';
export { swish, layerNorm, stopGradient, positionMean } from './ops';
export { totalAuxLoss } from './aux';
