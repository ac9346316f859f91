/**
 * Sanity tests of the float64 oracle itself (test/oracle/routing-oracle.ts)
 * against tiny cases computed by hand from the behaviour kernel-lib/docs/reference-code.md describes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../kernel-lib/util/rng';
import {
  oracleForward,
  oracleReinforceLosses,
  oracleAdamixConsistency,
  oracleGumbelTemperature,
  smoothStep,
  layerNorm,
  swish,
  type OracleParams,
} from './routing-oracle';

function close(a: number, b: number, tol = 1e-9, msg = ''): void {
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${msg} ${a} vs ${b}`);
}
function closeArr(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-9, msg = ''): void {
  assert.equal(a.length, b.length, `${msg} length`);
  for (let i = 0; i < a.length; i++) close(a[i], b[i], tol, `${msg}[${i}]`);
}
const ones = (n: number): number[] => new Array<number>(n).fill(1);
const zeros = (n: number): number[] => new Array<number>(n).fill(0);

/** Router params with unit LayerNorm gains and zero biases. */
function routerParams(C: number, W: number[]): OracleParams {
  return {
    'router.weight': W,
    'router.inNorm.gain': ones(C),
    'router.inNorm.bias': zeros(C),
    'router.weightNorm.gain': ones(C),
    'router.weightNorm.bias': zeros(C),
  };
}

// N = 2, C = 2, d = 1 hand case. x = [1, 2] (B = S = 1).
// LN_in([1,2]) = (−k', k') with k' = 0.5/sqrt(0.25+1e-5); W = I so LN_w columns are
// (k', −k') and (−k', k'); logits = (−2k'², 2k'²).
const kk = 0.5 / Math.sqrt(0.25 + 1e-5);
const handExperts = {
  'experts.down': [1, 0, /* expert 1 */ 0, 1], // [N,C,d] = [2,2,1]
  'experts.downBias': [0, 0.5],
  'experts.up': [1, 1, /* expert 1 */ 2, -1], // [N,d,C] = [2,1,2]
};
const handParams: OracleParams = { ...routerParams(2, [1, 0, 0, 1]), ...handExperts };
const f0 = (x: number[]): number[] => {
  const z = swish(x[0]);
  return [z, z];
};
const f1 = (x: number[]): number[] => {
  const z = swish(x[1] + 0.5);
  return [2 * z, -z];
};

describe('oracle: hand-computed cases', () => {
  it('SMEAR N=2 C=2 d=1', () => {
    const out = oracleForward({ method: 'smear', N: 2, C: 2, d: 1 }, handParams, [1, 2], 1, 1, { training: false });
    const l1 = 2 * kk * kk;
    closeArr(out.logits!, [-l1, l1], 1e-12, 'logits');
    const p1 = 1 / (1 + Math.exp(-2 * l1));
    const p0 = 1 - p1;
    closeArr(out.probs!, [p0, p1], 1e-12, 'probs');
    // Merged adapter: Wd = [p0, p1], bd = 0.5 p1, Wu = [p0 + 2p1, p0 − p1].
    const z = swish(p0 * 1 + p1 * 2 + 0.5 * p1);
    const u = [z * (p0 + 2 * p1), z * (p0 - p1)];
    closeArr(out.mixture, u, 1e-12, 'u');
    closeArr(out.y, [1 + u[0], 2 + u[1]], 1e-12, 'y');
    closeArr(out.weights!, [p0, p1], 1e-12, 'weights');
  });

  it('ensemble, topk, st-gumbel eval, reinforce eval, tag, hash on the same case', () => {
    const x = [1, 2];
    const l1 = 2 * kk * kk;
    const p1 = 1 / (1 + Math.exp(-2 * l1));
    const p0 = 1 - p1;
    const cfg = { N: 2, C: 2, d: 1 };
    const ens = oracleForward({ ...cfg, method: 'ensemble' }, handParams, x, 1, 1, { training: false });
    closeArr(ens.mixture, [p0 * f0(x)[0] + p1 * f1(x)[0], p0 * f0(x)[1] + p1 * f1(x)[1]], 1e-12, 'ensemble');
    const top = oracleForward({ ...cfg, method: 'topk' }, handParams, x, 1, 1, { training: false });
    assert.deepEqual(top.index, [1]);
    closeArr(top.mixture, f1(x).map((v) => v * p1), 1e-12, 'topk');
    closeArr(top.weights!, [0, p1], 1e-12, 'topk weights');
    for (const m of ['st-gumbel', 'reinforce']) {
      const o = oracleForward({ ...cfg, method: m }, handParams, x, 1, 1, { training: false });
      assert.deepEqual(o.index, [1]);
      closeArr(o.mixture, f1(x), 1e-12, m);
    }
    const tag = oracleForward({ ...cfg, method: 'tag', tagToExpert: [1, 0] }, handParams, x, 1, 1, { training: false, tags: [0] });
    assert.deepEqual(tag.index, [1]);
    closeArr(tag.mixture, f1(x), 1e-12, 'tag');
    const hash = oracleForward({ ...cfg, method: 'hash' }, handParams, x, 1, 1, { training: false, hash: [0] });
    closeArr(hash.mixture, f0(x), 1e-12, 'hash');
    const dense = oracleForward(
      { method: 'dense', N: 1, C: 2, d: 1 },
      { 'experts.down': [0, 1], 'experts.downBias': [0.5], 'experts.up': [2, -1] },
      x,
      1,
      1,
      { training: false },
    );
    closeArr(dense.mixture, f1(x), 1e-12, 'dense');
  });

  it('router input mean over S, masked mean and override', () => {
    // B=1, S=2: x tokens [1,2] and [3,8]; mean [2,5]; masked (mask [1,0]) → [1,2].
    const x = [1, 2, 3, 8];
    const a = oracleForward({ method: 'smear', N: 2, C: 2, d: 1 }, handParams, x, 1, 2, { training: false });
    closeArr(a.routerInput!, [2, 5], 1e-12);
    const m = oracleForward({ method: 'smear', N: 2, C: 2, d: 1 }, handParams, x, 1, 2, {
      training: false,
      mask: [1, 0],
      maskedMean: true,
    });
    closeArr(m.routerInput!, [1, 2], 1e-12);
    const noFlag = oracleForward({ method: 'smear', N: 2, C: 2, d: 1 }, handParams, x, 1, 2, { training: false, mask: [1, 0] });
    closeArr(noFlag.routerInput!, [2, 5], 1e-12, 'mask without maskedMean is ignored');
    const o = oracleForward({ method: 'smear', N: 2, C: 2, d: 1 }, handParams, x, 1, 2, { training: false, routerInput: [7, 3] });
    closeArr(o.routerInput!, [7, 3], 1e-12);
  });

  it('post LayerNorm: y − x is LN(u) (zero mean, unit variance per token)', () => {
    const p = { ...handParams, 'postNorm.gain': [1, 1], 'postNorm.bias': [0, 0] };
    const out = oracleForward({ method: 'smear', N: 2, C: 2, d: 1, postLayerNorm: true }, p, [1, 2], 1, 1, { training: false });
    const ln = layerNorm(out.mixture, [1, 1], [0, 0]);
    closeArr([out.y[0] - 1, out.y[1] - 2], ln, 1e-12);
    close(ln[0] + ln[1], 0, 1e-12);
  });

  it('smooth-step values', () => {
    close(smoothStep(-0.5), 0);
    close(smoothStep(-0.7), 0);
    close(smoothStep(0.5), 1);
    close(smoothStep(0.9), 1);
    close(smoothStep(0), 0.5);
    close(smoothStep(0.25), 0.84375); // −2/64 + 3/8 + 1/2
    close(smoothStep(-0.25), 0.15625);
    close(smoothStep(0.5, 2), 0.84375); // γ = 2: −(2/8)/8 + 3/8 + 1/2
    close(smoothStep(1, 2), 1);
  });

  it('dselect-k: MSB-first codes and regulariser (N=4 and N=3)', () => {
    // x̂ = (−k', k'); Z[:,0] = (0, 0.25/k') → t0 = 0.25 → s0 = 0.84375; Z[:,1] = 0 → s1 = 0.5.
    const C = 2;
    const p4: OracleParams = {
      ...routerParams(C, zeros(C * 4)),
      'dselect.z': [0, 0, 0.25 / kk, 0],
      'dselect.w': [0, 0],
      'experts.down': zeros(4 * C),
      'experts.downBias': zeros(4),
      'experts.up': zeros(4 * C),
    };
    const s0 = 0.84375;
    const s1 = 0.5;
    const q = [(1 - s0) * (1 - s1), (1 - s0) * s1, s0 * (1 - s1), s0 * s1];
    const o = oracleForward({ method: 'dselect-k', N: 4, C, d: 1 }, p4, [1, 2], 1, 1, { training: true });
    closeArr(o.probs!, q, 1e-9, 'q');
    const ent = q.reduce((a, v) => a - v * Math.log(v + 1e-6), 0);
    close(o.aux.dselect_regularizer, ent, 1e-9, 'reg N=4');
    const ev = oracleForward({ method: 'dselect-k', N: 4, C, d: 1 }, p4, [1, 2], 1, 1, { training: false });
    assert.equal(ev.aux.dselect_regularizer, undefined, 'no regulariser in eval');
    // routerInput override is ignored by dselect-k.
    const ov = oracleForward({ method: 'dselect-k', N: 4, C, d: 1 }, p4, [1, 2], 1, 1, { training: false, routerInput: [5, -5] });
    closeArr(ov.probs!, q, 1e-9, 'override ignored');
    // N = 3: m = 2, codes 00, 01, 10; plus 1/Σ(q+1e-6).
    const p3 = { ...p4, 'router.weight': zeros(C * 3), 'experts.down': zeros(3 * C), 'experts.downBias': zeros(3), 'experts.up': zeros(3 * C) };
    const o3 = oracleForward({ method: 'dselect-k', N: 3, C, d: 1 }, p3, [1, 2], 1, 1, { training: true });
    const q3 = q.slice(0, 3);
    closeArr(o3.probs!, q3, 1e-9);
    const ent3 = q3.reduce((a, v) => a - v * Math.log(v + 1e-6), 0);
    close(o3.aux.dselect_regularizer, ent3 + 1 / q3.reduce((a, v) => a + v + 1e-6, 0), 1e-9, 'reg N=3');
  });

  it('uniform routing at equal logits (W = 0, LN_w bias 0)', () => {
    const N = 3, C = 4, d = 2;
    const rng = new Rng(5);
    const E = {
      'experts.down': Array.from(rng.normal(N * C * d, 0.5)),
      'experts.downBias': Array.from(rng.normal(N * d, 0.5)),
      'experts.up': Array.from(rng.normal(N * d * C, 0.5)),
    };
    const p = { ...routerParams(C, zeros(C * N)), ...E };
    const x = Array.from(rng.normal(2 * 3 * C));
    const sm = oracleForward({ method: 'smear', N, C, d }, p, x, 2, 3, { training: false });
    closeArr(sm.probs!, new Array<number>(2 * N).fill(1 / N), 1e-12);
    const am = oracleForward({ method: 'adamix', N, C, d }, p, x, 2, 3, { training: false });
    closeArr(sm.mixture, am.mixture, 1e-12, 'smear at uniform = adamix eval');
    const en = oracleForward({ method: 'ensemble', N, C, d }, p, x, 2, 3, { training: false });
    const tags = [0, 1, 2];
    const parts = tags.map((t) => oracleForward({ method: 'hash', N, C, d }, p, x, 2, 3, { training: false, hash: [t, t] }).mixture);
    closeArr(en.mixture, parts[0].map((_, i) => (parts[0][i] + parts[1][i] + parts[2][i]) / 3), 1e-12, 'ensemble = mean');
  });

  it('skills eval probabilities', () => {
    const N = 2, C = 2, d = 1;
    const p = { ...handExperts, 'skills.logits': [0, Math.log(3), /* tag 1 */ 0, 0] };
    const o = oracleForward({ method: 'skills', N, C, d, T: 2 }, p, [1, 2, 1, 2], 2, 1, { training: false, tags: [0, 1] });
    // A = sigmoid(0) = 0.5, sigmoid(ln 3) = 0.75 → p = (0.4, 0.6); tag 1 → (0.5, 0.5)
    closeArr(o.weights!, [0.4, 0.6, 0.5, 0.5], 1e-9);
  });

  it('skills training: relaxed Bernoulli from clamped uniforms', () => {
    const p = { ...handExperts, 'skills.logits': [0.3, -0.2, 0.1, 0.4] };
    const o = oracleForward({ method: 'skills', N: 2, C: 2, d: 1, T: 2 }, p, [1, 2], 1, 1, { training: true, tags: [1], rng: new Rng(9) });
    const U = Array.from(new Rng(9).uniform(4)).map((u) => Math.min(Math.max(u, 1.1920928955078125e-7), 1 - 1.1920928955078125e-7));
    const A = [0.3, -0.2, 0.1, 0.4].map((s, i) => 1 / (1 + Math.exp(-(Math.log(U[i]) - Math.log(1 - U[i]) + s))));
    const s = A[2] + A[3];
    closeArr(o.weights!, [A[2] / (s + 1e-12), A[3] / (s + 1e-12)], 1e-12);
  });

  it('expert dropout: uniforms < rate drop; all dropped → uniform', () => {
    const rate = 0.5;
    const o = oracleForward({ method: 'smear', N: 2, C: 2, d: 1, expertDropout: rate }, handParams, [1, 2], 1, 1, {
      training: true,
      rng: new Rng(3),
    });
    const u = new Rng(3).uniform(2);
    const l1 = 2 * kk * kk;
    const p = [1 / (1 + Math.exp(2 * l1)), 1 / (1 + Math.exp(-2 * l1))];
    const pd = p.map((v, i) => v * (u[i] < rate ? 0 : 1) + 1e-10);
    const s = pd[0] + pd[1];
    closeArr(o.probs!, pd.map((v) => v / s), 1e-12);
    closeArr(o.logits!, [-l1 + (u[0] < rate ? -1e10 : 0), l1 + (u[1] < rate ? -1e10 : 0)], 1e-12);
    const all = oracleForward({ method: 'smear', N: 2, C: 2, d: 1, expertDropout: 1 }, handParams, [1, 2], 1, 1, {
      training: true,
      rng: new Rng(3),
    });
    closeArr(all.probs!, [0.5, 0.5], 1e-12);
  });

  it('reinforce training: inverse-CDF sample, log-prob and linear baseline', () => {
    const p: OracleParams = {
      ...handParams,
      'baseline.w1': [1, 2], // [C=2, h=1]
      'baseline.b1': [0.5],
      'baseline.w2': [3],
      'baseline.b2': [-1],
    };
    const out = oracleForward({ method: 'reinforce', N: 2, C: 2, d: 1 }, p, [1, 2], 1, 1, { training: true, rng: new Rng(11) });
    const U = new Rng(11).uniform(1)[0];
    const l1 = 2 * kk * kk;
    const p0 = 1 / (1 + Math.exp(2 * l1));
    const a = p0 <= U ? 1 : 0;
    assert.deepEqual(out.index, [a]);
    close(out.logProbAction![0], Math.log((a ? 1 - p0 : p0) + 1e-20), 1e-12);
    close(out.baseline![0], (-kk * 1 + kk * 2 + 0.5) * 3 - 1, 1e-12);
    closeArr(out.mixture, a ? f1([1, 2]) : f0([1, 2]), 1e-12);
  });

  it('st-gumbel training: forward value 1, argmax of the perturbed softmax', () => {
    const out = oracleForward({ method: 'st-gumbel', N: 2, C: 2, d: 1 }, handParams, [1, 2], 1, 1, {
      training: true,
      rng: new Rng(4),
      temperature: 1,
    });
    const U = new Rng(4).uniform(2);
    const l1 = 2 * kk * kk;
    const z = [-l1, l1].map((l, i) => l - Math.log(-Math.log(U[i] + 1e-20) + 1e-20));
    const k = z[1] > z[0] ? 1 : 0;
    assert.deepEqual(out.index, [k]);
    close(out.weights![k], 1, 1e-15);
    closeArr(out.mixture, k ? f1([1, 2]) : f0([1, 2]), 1e-12);
  });

  it('adamix training draws the down then the up expert', () => {
    const x = [1, 2, 0.5, -1];
    const out = oracleForward({ method: 'adamix', N: 2, C: 2, d: 1 }, handParams, x, 2, 1, { training: true, rng: new Rng(8) });
    const r = new Rng(8);
    const dn = Array.from(r.uniformInt(2, 2));
    const up = Array.from(r.uniformInt(2, 2));
    assert.deepEqual(out.index, dn);
    assert.deepEqual(out.upIndex, up);
    for (let b = 0; b < 2; b++) {
      const xb = x.slice(2 * b, 2 * b + 2);
      const z = swish(dn[b] === 0 ? xb[0] : xb[1] + 0.5);
      const Wu = up[b] === 0 ? [1, 1] : [2, -1];
      closeArr(out.mixture.slice(2 * b, 2 * b + 2), [z * Wu[0], z * Wu[1]], 1e-12);
    }
  });

  it('topk k=2 and load balancing', () => {
    const N = 3, C = 4, d = 2, B = 2;
    const rng = new Rng(21);
    const p: OracleParams = {
      ...routerParams(C, Array.from(rng.normal(C * N))),
      'experts.down': Array.from(rng.normal(N * C * d, 0.5)),
      'experts.downBias': Array.from(rng.normal(N * d, 0.5)),
      'experts.up': Array.from(rng.normal(N * d * C, 0.5)),
    };
    const x = Array.from(rng.normal(B * C));
    const o = oracleForward({ method: 'topk', N, C, d, topK: 2, loadBalancing: true }, p, x, B, 1, { training: true, rng: new Rng(1) });
    const ev = oracleForward({ method: 'topk', N, C, d, topK: 2, loadBalancing: true }, p, x, B, 1, { training: false });
    assert.equal(ev.aux.load_balancing, undefined, 'aux losses are training-only');
    assert.equal(o.index!.length, 4);
    const pr = o.probs!;
    let lb = 0;
    for (let n = 0; n < N; n++) {
      const mp = (pr[n] + pr[N + n]) / 2;
      const mc = (o.index!.slice(0, 2).filter((e) => e === n).length + o.index!.slice(2).filter((e) => e === n).length) / 2;
      lb += mp * mc;
    }
    close(o.aux.load_balancing, B * lb, 1e-12);
    for (let b = 0; b < B; b++) {
      const row = pr.slice(b * N, b * N + N);
      const sorted = [...row].sort((a, c) => c - a);
      close(row[o.index![2 * b]], sorted[0]);
      close(row[o.index![2 * b + 1]], sorted[1]);
    }
    // Load balancing skips LN_in: probs differ from the LN_in path.
    const o2 = oracleForward({ method: 'topk', N, C, d, topK: 2 }, p, x, B, 1, { training: false });
    assert.ok(Math.abs(o2.probs![0] - pr[0]) > 1e-6);
  });

  it('soft-moe with S = 1 and equal logits: slot = x, uniform combine', () => {
    const N = 2, C = 2, d = 1;
    const p = { ...handExperts, 'softmoe.phi': [1, 1, 1, 1], 'softmoe.scale': [1, 1] };
    const o = oracleForward({ method: 'soft-moe', N, C, d }, p, [1, 2], 1, 1, { training: false });
    const a = f0([1, 2]);
    const b = f1([1, 2]);
    closeArr(o.mixture, [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2], 1e-12);
    closeArr(o.slotWeights!, [0.5, 0.5], 1e-12);
  });

  it('soft-moe S = 2 by hand (P = 1)', () => {
    // phi columns e0 = (1,0), e1 = (0,1); scale (2, 1); tokens x1 = (3,0), x2 = (0,1).
    const p = { ...handExperts, 'softmoe.phi': [1, 0, 0, 1], 'softmoe.scale': [2, 1] };
    const x = [3, 0, 0, 1];
    const o = oracleForward({ method: 'soft-moe', N: 2, C: 2, d: 1 }, p, x, 1, 2, { training: false });
    const n1 = 3 / (3 + 1e-6), n2 = 1 / (1 + 1e-6), c = 1 / (1 + 1e-6);
    const L = [
      [n1 * c * 2, 0],
      [0, n2 * c],
    ];
    const sm = (v: number[]): number[] => {
      const e = v.map(Math.exp);
      const s = e[0] + e[1];
      return e.map((t) => t / s);
    };
    const D0 = sm([L[0][0], L[1][0]]);
    const D1 = sm([L[0][1], L[1][1]]);
    const slot0 = [D0[0] * 3, D0[1] * 1];
    const slot1 = [D1[0] * 3, D1[1] * 1];
    const Y0 = f0(slot0);
    const Y1 = f1(slot1);
    const C0 = sm(L[0]);
    const C1 = sm(L[1]);
    closeArr(o.mixture, [C0[0] * Y0[0] + C0[1] * Y1[0], C0[0] * Y0[1] + C0[1] * Y1[1], C1[0] * Y0[0] + C1[1] * Y1[0], C1[0] * Y0[1] + C1[1] * Y1[1]], 1e-12);
    closeArr(o.slotWeights!, [(C0[0] + C1[0]) / 2, (C0[1] + C1[1]) / 2], 1e-12);
  });

  it('determinism: same seed → same output; different seed → different', () => {
    const run = (seed: number) =>
      oracleForward({ method: 'st-gumbel', N: 2, C: 2, d: 1, expertDropout: 0.3 }, handParams, [1, 2, -1, 0.5, 2, 2], 3, 1, {
        training: true,
        rng: new Rng(seed),
        temperature: 1,
      });
    assert.deepEqual(run(1), run(1));
    const outs = [2, 3, 4, 5, 6].map((s) => JSON.stringify(run(s).gumbelSoft));
    assert.ok(new Set(outs).size > 1);
  });
});

describe('oracle: losses', () => {
  it('REINFORCE losses by hand', () => {
    const blocks = [
      { probs: [0.25, 0.75, 0.5, 0.5], index: [1, 0], baseline: [1, 3] },
      { probs: [1, 0, 0.1, 0.9], index: [0, 1], baseline: [0.5, -1] },
    ];
    const loss = [2, 0];
    const r = oracleReinforceLosses(blocks, loss, 2);
    const A = [2 - 1, 0 - 3, 2 - 0.5, 0 + 1];
    const lp = [Math.log(0.75), Math.log(0.5), Math.log(1), Math.log(0.9)];
    close(r.policy, lp.reduce((a, v, i) => a + v * A[i], 0) / 4, 1e-12);
    const H = (p: number[]) => -p.reduce((a, v) => a + v * Math.log(v + 1e-20), 0);
    close(r.entropy, (H([0.25, 0.75]) + H([0.5, 0.5]) + H([1, 0]) + H([0.1, 0.9])) / 4, 1e-12);
    // Huber: |1| → 0.5, |−3| → 2.5, 1.5 → 1.0, 1 → 0.5
    close(r.value, (0.5 + 2.5 + 1.0 + 0.5) / 4, 1e-12);
  });

  it('AdaMix consistency: symmetric KL / rows', () => {
    const p1 = [0.2, 0.8, 0.5, 0.5];
    const p2 = [0.6, 0.4, 0.5, 0.5];
    const l1 = p1.map(Math.log);
    const l2 = p2.map(Math.log);
    const kl = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * Math.log(v / b[i]), 0);
    const expect = (0.5 * (kl(p2, p1) + kl(p1, p2))) / 2;
    close(oracleAdamixConsistency(l1, l2, 2, 2, 'batchmean'), expect, 1e-12);
    close(oracleAdamixConsistency(l1, l2, 2, 2, 'mean'), expect, 1e-12);
    close(oracleAdamixConsistency(l1, l1, 2, 2, 'mean'), 0, 1e-15);
    close(oracleAdamixConsistency(l1, l2, 2, 2, 'mean'), oracleAdamixConsistency(l2, l1, 2, 2, 'mean'), 1e-15);
  });
});

describe('oracle: Gumbel temperature schedule (kernel-lib/docs/reference-code.md#gumbel-temperature)', () => {
  // Convention: the notes' "τ @ g" is the value after the update at global_step g,
  // i.e. the temperature used by step g + 1.
  const t5 = { tau0: 10, minTemp: 0.5, rate: 1e-6, period: 5000 };
  const rn = { tau0: 10, minTemp: 0.5, rate: 1e-4, period: 1000 };
  const r2 = (v: number) => Math.round(v * 100) / 100;
  it('T5: rate 1e-6, period 5000', () => {
    assert.equal(oracleGumbelTemperature(0, t5), 10);
    assert.equal(oracleGumbelTemperature(4999, t5), 10);
    assert.equal(r2(oracleGumbelTemperature(4999 + 1, t5)), 9.95);
    close(oracleGumbelTemperature(5000, t5), 10 * Math.exp(-1e-6 * 4999), 1e-12);
    assert.equal(r2(oracleGumbelTemperature(49999 + 1, t5)), 7.6);
    assert.equal(r2(oracleGumbelTemperature(99999 + 1, t5)), 3.5);
    assert.equal(r2(oracleGumbelTemperature(149999 + 1, t5)), 0.98);
    assert.ok(oracleGumbelTemperature(174999, t5) > 0.5);
    assert.equal(oracleGumbelTemperature(174999 + 1, t5), 0.5);
    assert.equal(oracleGumbelTemperature(600000, t5), 0.5);
  });
  it('ResNet: rate 1e-4, period 1000', () => {
    const want = [9.05, 7.41, 5.49, 3.68, 2.23, 1.23, 0.61];
    want.forEach((w, i) => assert.equal(r2(oracleGumbelTemperature(1000 * (i + 1), rn)), w, `@${1000 * (i + 1) - 1}`));
    assert.ok(oracleGumbelTemperature(7999, rn) > 0.6);
    assert.equal(oracleGumbelTemperature(8000, rn), 0.5);
    assert.equal(oracleGumbelTemperature(100000, rn), 0.5);
  });
});
