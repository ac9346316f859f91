/** The routing library: SMEAR and every baseline behind one block interface. */
export * from './types';
export type {
  RoutingMethod,
  ResolvedBlockConfig,
  ResolvedContext,
  BlockParts,
  MixResult,
  MethodConfiguration,
  AuxLossInfo,
  MethodOption,
  OptionValues,
  StepInput,
  StepContext,
  DrawSpec,
  ReferenceCode,
  ReferenceParam,
  ReferenceShapes,
  ReferenceArguments,
  ReferenceConfigReader,
  PaperClaim,
} from './method';
export { SAME_SIZE, TWICE_EXPERTS } from './method';
export { RoutingBlock, resolveBlockConfig } from './block';
export type { NamedParam } from './block';
export { METHODS, getMethod, methodNames, registerMethod } from './registry';
export { hasOption, resolveTrainingOptions, trainingOptionDefaults } from './options';
export { Experts } from './experts';
export { Router, requireRng } from './router';
export { reinforceLosses, REINFORCE_DEFAULTS } from './methods/reinforce';
export { adamixConsistency } from './methods/adamix';
export { smoothStep } from './methods/dselect-k';
export { GumbelSchedule } from './schedules';
export { swish, layerNorm, stopGradient, positionMean, oneHotF, rowDot } from './ops';
export { totalAuxLoss } from './aux';
