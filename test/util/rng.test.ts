import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../kernel-lib/util/rng';

describe('Rng', () => {
  it('is deterministic under a seed and differs across seeds', () => {
    assert.deepEqual(Array.from(new Rng(5).uniform(20)), Array.from(new Rng(5).uniform(20)));
    assert.notDeepEqual(Array.from(new Rng(5).uniform(20)), Array.from(new Rng(6).uniform(20)));
  });

  it('draws uniforms in [0, 1) that are exact multiples of 2^-24 (float32-exact)', () => {
    const u = new Rng(1).uniform(100000);
    let sum = 0;
    let sq = 0;
    for (const v of u) {
      assert.ok(v >= 0 && v < 1);
      assert.equal(v * 2 ** 24, Math.round(v * 2 ** 24));
      sum += v;
      sq += v * v;
    }
    const mean = sum / u.length;
    const variance = sq / u.length - mean * mean;
    // mean 1/2 ± 4σ (σ = sqrt(1/12 / n)); variance 1/12 within 2%.
    assert.ok(Math.abs(mean - 0.5) < 4 * Math.sqrt(1 / 12 / u.length), `mean ${mean}`);
    assert.ok(Math.abs(variance - 1 / 12) < 0.02 / 12, `variance ${variance}`);
  });

  it('draws integers uniformly over {0, …, max-1}', () => {
    const n = 60000;
    const k = 6;
    const counts = new Array(k).fill(0);
    for (const v of new Rng(2).uniformInt(n, k)) counts[v]++;
    // chi-square with 5 degrees of freedom: 99.9th percentile ≈ 20.5
    const chi2 = counts.reduce((s, c) => s + (c - n / k) ** 2 / (n / k), 0);
    assert.ok(chi2 < 20.5, `chi2 ${chi2}, counts ${counts}`);
    assert.throws(() => new Rng(1).uniformInt(3, 0), /max must be an integer >= 1, got 0/);
  });

  it('draws normals with the requested mean and standard deviation', () => {
    const x = new Rng(3).normal(100001, 0.5, 2);
    const mean = x.reduce((s, v) => s + v, 0) / x.length;
    const sd = Math.sqrt(x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length);
    assert.ok(Math.abs(mean - 2) < 0.01, `mean ${mean}`);
    assert.ok(Math.abs(sd - 0.5) < 0.01, `sd ${sd}`);
    assert.equal(x.length, 100001);
  });

  it('saves and restores its state exactly', () => {
    const a = new Rng(9);
    a.uniform(17);
    const state = a.getState();
    const next = Array.from(a.uniform(10));
    const b = new Rng(0);
    b.setState(state);
    assert.deepEqual(Array.from(b.uniform(10)), next);
    assert.throws(() => b.setState([0, 0, 0, 0]), /four uint32 words, not all zero/);
  });

  it('forks independent streams', () => {
    const a = new Rng(4);
    const child = a.fork();
    assert.notDeepEqual(Array.from(child.uniform(8)), Array.from(a.uniform(8)));
  });

  it('rejects a non-finite seed', () => {
    assert.throws(() => new Rng(NaN), /seed must be a finite number, got NaN/);
  });
});
