import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend, tf } from '../../kernel-lib';
import { RoutingStatsAccumulator, saveRoutingStats, loadRoutingStats } from '../../kernel-lib/analysis/routing-stats';

const close = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) < tol, `${a} vs ${b}`);

describe('routing statistics', () => {
  before(async () => {
    await initBackend({ backend: 'cpu', quiet: true });
  });

  it('averages distributions per tag and scores perfect specialisation as 1', async () => {
    const acc = new RoutingStatsAccumulator('tag', ['a', 'b']);
    // Two batches; tag a always expert 0, tag b always expert 1 (one-hot index records).
    await acc.add([{ index: tf.tensor1d([0, 1, 0], 'int32'), weights: tf.tensor2d([[1, 0], [0, 1], [1, 0]]) }], [0, 1, 0]);
    await acc.add([{ index: tf.tensor1d([1], 'int32'), weights: tf.tensor2d([[0, 1]]) }], [1]);
    const s = acc.result();
    assert.equal(s.examples, 4);
    const b = s.blocks[0];
    assert.equal(b.source, 'weights');
    assert.deepEqual(b.meanByTag, [[1, 0], [0, 1]]);
    assert.deepEqual(b.counts, [2, 2]);
    assert.deepEqual(b.usage, [0.5, 0.5]);
    close(b.entropy, 0);
    close(b.specialization, 1);
  });

  it('uses a one-hot of the chosen expert when a record has only indices', async () => {
    const acc = new RoutingStatsAccumulator('adamix', ['a', 'b']);
    await acc.add([{ index: tf.tensor1d([2, 0], 'int32') }], [0, 1]);
    const b = acc.result().blocks[0];
    assert.equal(b.source, 'index');
    assert.deepEqual(b.meanByTag, [[0, 0, 1], [1, 0, 0]]);
  });

  it('scores tag-independent routing as 0 and computes entropy in nats', async () => {
    const acc = new RoutingStatsAccumulator('smear', ['a', 'b']);
    const p = [0.25, 0.75];
    await acc.add([{ probs: tf.tensor2d([p, p, p, p]) }], [0, 1, 0, 1]);
    const b = acc.result().blocks[0];
    assert.deepEqual(b.meanByTag, [p, p]);
    close(b.specialization, 0);
    close(b.entropy, -(0.25 * Math.log(0.25) + 0.75 * Math.log(0.75)));
    assert.deepEqual(b.argmaxUsage, [0, 1]);
  });

  it('computes the soft mutual information by hand on a mixed case', async () => {
    const acc = new RoutingStatsAccumulator('smear', ['a', 'b']);
    await acc.add([{ probs: tf.tensor2d([[0.9, 0.1], [0.2, 0.8]]) }], [0, 1]);
    const b = acc.result().blocks[0];
    // joint: a:(0.45,0.05) b:(0.1,0.4); p(t)=(.5,.5); p(e)=(.55,.45)
    const joint = [[0.45, 0.05], [0.1, 0.4]];
    const pe = [0.55, 0.45];
    let mi = 0;
    for (let t = 0; t < 2; t++) for (let e = 0; e < 2; e++) mi += joint[t][e] * Math.log(joint[t][e] / (0.5 * pe[e]));
    const hT = Math.log(2);
    const hE = -(0.55 * Math.log(0.55) + 0.45 * Math.log(0.45));
    close(b.specialization, (2 * mi) / (hT + hE));
  });

  it('renormalises rows (DSelect-k weights) and round-trips through a file', async () => {
    const acc = new RoutingStatsAccumulator('dselect-k', ['a']);
    await acc.add([{ weights: tf.tensor2d([[0.2, 0.2]]) }, { probs: tf.tensor2d([[0, 0]]) }], [0]);
    const s = acc.result();
    assert.deepEqual(s.blocks[0].meanByTag, [[0.5, 0.5]]);
    assert.deepEqual(s.blocks[1].meanByTag, [[0.5, 0.5]], 'an all-zero row counts as uniform');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rs-')), 'routing.json');
    await saveRoutingStats(file, s);
    assert.deepEqual(loadRoutingStats(file), s);
    fs.writeFileSync(file, '{}');
    assert.throws(() => loadRoutingStats(file), /not a routing statistics file/);
  });

  it('rejects mismatched tags', async () => {
    const acc = new RoutingStatsAccumulator('smear', ['a']);
    await assert.rejects(() => acc.add([{ probs: tf.tensor2d([[1, 0]]) }], [0, 0]), /block 0 has 1 rows, tags has 2/);
    await assert.rejects(() => acc.add([{ probs: tf.tensor2d([[1, 0]]) }], [3]), /tag 3 out of range \[0, 1\)/);
  });
});
