/** Bad input gets an Error naming the parameter, the value received and what was expected. */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf, RoutingBlock, Rng } from '../../kernel-lib';

describe('routing bad input', () => {
  before(async () => {
    await initBackend({ backend: 'cpu', quiet: true });
  });

  const x = () => tf.ones([2, 3, 8]) as tf.Tensor3D;

  it('unknown method names list the valid ones', () => {
    assert.throws(() => new RoutingBlock({ method: 'smeer', width: 8 }), /unknown routing method 'smeer'; expected one of smear \(parameter_averaging_routing\)/);
  });

  it('accepts reference names', () => {
    const b = new RoutingBlock({ method: 'parameter_averaging_routing', width: 8, numExperts: 2, bottleneck: 2 });
    assert.equal(b.method.name, 'smear');
    b.dispose();
  });

  it('N < 1, d < 1, width, dropout, topK, tags map', () => {
    assert.throws(() => new RoutingBlock({ method: 'smear', width: 8, numExperts: 0 }), /option numExperts: expected an integer >= 1, got 0/);
    assert.throws(() => new RoutingBlock({ method: 'smear', width: 8, bottleneck: 0 }), /option bottleneck: expected an integer >= 1, got 0/);
    assert.throws(() => new RoutingBlock({ method: 'smear', width: 8, bottleneck: 2.5 }), /option bottleneck: expected an integer >= 1, got 2.5/);
    assert.throws(() => new RoutingBlock({ method: 'smear', width: -1 }), /option width: expected an integer >= 1, got -1/);
    assert.throws(() => new RoutingBlock({ method: 'smear', width: 8, expertDropout: 1 }), /option expertDropout: expected a number in \[0, 1\), got 1/);
    assert.throws(() => new RoutingBlock({ method: 'topk', width: 8, numExperts: 4, topK: 5 }), /option topK: expected an integer in \[1, numExperts=4\], got 5/);
    assert.throws(() => new RoutingBlock({ method: 'dense', width: 8, numExperts: 4 }), /method 'dense': numExperts must be 1/);
    assert.throws(
      () => new RoutingBlock({ method: 'tag', width: 8, numExperts: 4, numTags: 2, tagToExpert: [0, 7] }),
      /option tagToExpert\[1\]: expected an expert index in \[0, 4\), got 7/,
    );
  });

  it('mismatched input shapes are never broadcast', () => {
    const b = new RoutingBlock({ method: 'smear', width: 8, numExperts: 2, bottleneck: 2 });
    assert.throws(() => b.forward(tf.ones([2, 3, 7]) as tf.Tensor3D), /input x: expected shape \[B,S,8\] \(batch, positions, width\), got \[2,3,7\]/);
    assert.throws(() => b.forward(tf.ones([2, 8]) as unknown as tf.Tensor3D), /input x: expected shape \[B,S,8\].*got \[2,8\]/);
    assert.throws(() => b.forward(x(), { routerInput: tf.ones([3, 8]) as tf.Tensor2D }), /ctx.routerInput: expected shape \[2,8\], got \[3,8\]/);
    assert.throws(() => b.forward(x(), { mask: tf.ones([2, 4]) as tf.Tensor2D }), /ctx.mask: expected shape \[2,3\]/);
    b.dispose();
  });

  it('missing or out-of-range tag ids', () => {
    const b = new RoutingBlock({ method: 'tag', width: 8, numExperts: 4, bottleneck: 2 });
    assert.throws(() => b.forward(x()), /method 'tag' needs ctx.tags: one tag \(task\/domain\) id per example, shape \[2\]/);
    assert.throws(() => b.forward(x(), { tags: [0] }), /ctx.tags: expected 2 ids \(one per example, shape \[2\]\), got shape \[1\]/);
    assert.throws(() => b.forward(x(), { tags: [0, 4] }), /ctx.tags\[1\]: expected an integer in \[0, 4\), got 4/);
    const s = new RoutingBlock({ method: 'skills', width: 8, numExperts: 4, bottleneck: 2 });
    assert.throws(() => s.forward(x()), /method 'skills' needs ctx.tags/);
    b.dispose();
    s.dispose();
  });

  it('hash ids out of range', () => {
    const b = new RoutingBlock({ method: 'hash', width: 8, numExperts: 4, bottleneck: 2 });
    assert.throws(() => b.forward(x()), /method 'hash' needs ctx.hash/);
    assert.throws(() => b.forward(x(), { hash: [1, -1] }), /ctx.hash\[1\]: expected an integer in \[0, 4\), got -1/);
    assert.throws(() => b.forward(x(), { hash: tf.tensor1d([1, 9], 'int32') }), /ctx.hash\[1\]: expected an integer in \[0, 4\), got 9/);
    b.dispose();
  });

  it('NaN or Inf in the input is not checked inside the block (that would read the device per block): it reaches the output, where the trainer\'s per-step loss check stops the run (test/train/trainer.test.ts)', () => {
    const b = new RoutingBlock({ method: 'smear', width: 8, numExperts: 2, bottleneck: 2 });
    const bad = tf.tensor3d([...new Array(47).fill(1), NaN], [2, 3, 8]);
    const y = b.forward(bad).y.dataSync();
    assert.ok(y.some((v) => Number.isNaN(v)), 'a NaN input gives a NaN output');
    b.dispose();
  });

  it('training randomness needs a generator', () => {
    const b = new RoutingBlock({ method: 'smear', width: 8, numExperts: 2, bottleneck: 2 });
    assert.throws(() => b.forward(x(), { training: true }), /ctx.rng: expert dropout in training mode needs a seeded generator/);
    assert.doesNotThrow(() => b.forward(x(), { training: true, rng: new Rng(1) }));
    b.dispose();
  });
});
