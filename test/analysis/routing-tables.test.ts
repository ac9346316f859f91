/** The Markdown routing tables of the reproductions' results.md (analysis/routing-tables.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heatTable, routingSections } from '../../kernel-lib/analysis/routing-tables';
import type { BlockRoutingStats, RoutingStats } from '../../kernel-lib/analysis/routing-stats';

const block = (b: number, meanByTag: number[][], counts: number[]): BlockRoutingStats => ({
  block: b,
  source: 'probs',
  numExperts: meanByTag[0].length,
  counts,
  meanByTag,
  usage: [],
  argmaxUsage: [],
  entropy: 0.5 + b,
  specialization: 0.25 * b,
});
const stats: RoutingStats = {
  method: 'smear',
  tagNames: ['rte', 'sst2', 'mrpc'],
  examples: 5,
  blocks: [block(0, [[1, 0], [0.5, 0.5], [0, 0]], [3, 2, 0]), block(1, [[0.39, 0.61], [0.2, 0.8], [0, 0]], [3, 2, 0]), block(2, [[0.9, 0.1], [0.05, 0.95], [0, 0]], [3, 2, 0])],
};

test('heatTable: one row per tag that has examples, one shaded column per expert', () => {
  assert.deepEqual(heatTable(stats, 1, 'task'), ['| task | e0 | e1 |', '|---|---:|---:|', '| rte | ░ 0.39 | ▓ 0.61 |', '| sst2 | ░ 0.20 | █ 0.80 |']);
  assert.deepEqual(heatTable(stats, 0, 'task').slice(2), ['| rte | █ 1.00 |   0.00 |', '| sst2 | ▒ 0.50 | ▒ 0.50 |']);
  assert.deepEqual(heatTable(stats, 7, 'task'), []);
});

test('routingSections: the first and last block of every run with statistics, titled with specialisation and entropy', () => {
  const out = routingSections([{ label: 'smear', routing: stats }, { label: 'dense' }], 'task');
  assert.deepEqual(out.filter((l) => l.startsWith('### ')), ['### smear, block 0 (specialisation 0.00, entropy 0.50 nats)', '### smear, block 2 (specialisation 0.50, entropy 2.50 nats)']);
  assert.equal(out.length, 2 * (1 + 1 + 4 + 1));
});
