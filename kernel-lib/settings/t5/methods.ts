/**
 * The T5-GLUE setting's method sets: (method, configuration) pairs of
 * registered names, resolved through the registry when a run starts. This
 * file is data only: it and its ResNet twin are where a setting names methods
 * (test/tooling/method-names.test.ts allows exactly these two files outside
 * kernel-lib/routing/).
 */
import type { MethodSpec } from '../common';

/** The default method set, in the order of the results table: every T5 routing method of the comparison plus both single-adapter baselines. */
export const T5_METHOD_SET: MethodSpec[] = [
  { method: 'smear' },
  { method: 'tag' },
  { method: 'hash' },
  { method: 'topk' },
  { method: 'st-gumbel' },
  { method: 'reinforce' },
  { method: 'dselect-k' },
  { method: 'ensemble' },
  { method: 'dense', configuration: '1× compute' },
  { method: 'dense', configuration: '1× parameters' },
  { method: 'adamix' },
  { method: 'skills' },
];

/** The notebooks' smoke profile. */
export const T5_SMOKE_METHODS: MethodSpec[] = [{ method: 'smear' }, { method: 'tag' }, { method: 'hash' }];
