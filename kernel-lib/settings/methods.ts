/**
 * The settings' method sets: (method, configuration) pairs of registered names,
 * resolved through the registry when a run starts. This file is data only: it is
 * where the settings name methods (test/tooling/method-names.test.ts allows it,
 * as kernel-lib/README's "Adding a method" lists it).
 */
import type { MethodSpec } from './common';

/** The routed methods of both settings' comparisons, in the results tables' order. */
const ROUTED: MethodSpec[] = [
  { method: 'smear' },
  { method: 'tag' },
  { method: 'hash' },
  { method: 'topk' },
  { method: 'st-gumbel' },
  { method: 'reinforce' },
  { method: 'dselect-k' },
  { method: 'ensemble' },
];

/** Both single-adapter baselines. */
const SINGLE_ADAPTERS: MethodSpec[] = [
  { method: 'dense', configuration: '1× compute' },
  { method: 'dense', configuration: '1× parameters' },
];

/** ResNet-DomainNet (issue 3): every routing method, Soft MoE included (token mixing fits a CNN), plus both single adapters. */
export const RESNET_METHOD_SET: MethodSpec[] = [...ROUTED, { method: 'soft-moe' }, { method: 'adamix' }, { method: 'skills' }, ...SINGLE_ADAPTERS];

/** T5-GLUE: every routing method of the comparison (not Soft MoE: token mixing is not causal) and both single adapters. */
export const T5_METHOD_SET: MethodSpec[] = [...ROUTED, ...SINGLE_ADAPTERS, { method: 'adamix' }, { method: 'skills' }];

/** The notebooks' smoke profile: a few methods of each kind. */
export const RESNET_SMOKE_METHODS: MethodSpec[] = [...ROUTED.slice(0, 4), { method: 'ensemble' }, SINGLE_ADAPTERS[0]];
export const T5_SMOKE_METHODS: MethodSpec[] = ROUTED.slice(0, 3);
