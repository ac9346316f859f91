/**
 * The ResNet-DomainNet setting's method sets: (method, configuration) pairs of
 * registered names, resolved through the registry when a run starts. This
 * file is data only: it and its T5 twin are where a setting names methods
 * (test/tooling/method-names.test.ts allows exactly these two files outside
 * kernel-lib/routing/).
 */
import type { MethodSpec } from '../common';

/** The default method set (issue 3), in the order of the results table: every routing method, plus both single-adapter baselines. */
export const RESNET_METHOD_SET: MethodSpec[] = [
  { method: 'smear' },
  { method: 'tag' },
  { method: 'hash' },
  { method: 'topk' },
  { method: 'st-gumbel' },
  { method: 'reinforce' },
  { method: 'dselect-k' },
  { method: 'ensemble' },
  { method: 'soft-moe' },
  { method: 'adamix' },
  { method: 'skills' },
  { method: 'dense', configuration: '1× compute' },
  { method: 'dense', configuration: '1× parameters' },
];

/** The notebooks' smoke profile: a few methods of each kind. */
export const RESNET_SMOKE_METHODS: MethodSpec[] = [{ method: 'smear' }, { method: 'tag' }, { method: 'hash' }, { method: 'topk' }, { method: 'ensemble' }, { method: 'dense', configuration: '1× compute' }];
