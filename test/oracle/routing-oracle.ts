/**
 * Independent float64 reference ("oracle") for one SMEAR routing block and the
 * routing-related losses, written from the behaviour that kernel-lib/docs/reference-code.md
 * describes (building blocks and methods) alone, with plain loops over JS number arrays. It deliberately shares no code with
 * kernel-lib/routing (only the seeded generator and nothing else), so the
 * tfjs implementation can be checked against it.
 *
 * Layouts are flat row-major:
 *   x [B,S,C]; experts.down [N,C,d]; experts.downBias [N,d]; experts.up [N,d,C]
 *   router.weight [C,N]; router.inNorm.{gain,bias} [C]; router.weightNorm.{gain,bias} [C]
 *   postNorm.{gain,bias} [C]
 *   baseline.w1 [C,h]; baseline.b1 [h]; baseline.w2 [h,1]; baseline.b2 [1]  (h read from b1's length)
 *   dselect.z [C,m]; dselect.w [C,1]; skills.logits [T,N]
 *   softmoe.phi [C,N*P] (column n*P+p); softmoe.scale [N*P]
 *
 * Randomness (training only) is drawn from `ctx.rng` in the documented order:
 *   1. expert dropout (softmax-router methods, rate > 0): rng.uniform(B*N)
 *   2. st-gumbel: rng.uniform(B*N) · reinforce: rng.uniform(B)
 *      adamix: rng.uniformInt(B,N) (down) then rng.uniformInt(B,N) (up)
 *      skills: rng.uniform(T*N)
 */
import type { Rng } from '../../kernel-lib/util/rng';

export interface OracleConfig {
  method: string;
  N: number;
  C: number;
  d: number;
  /** Tags (skills / tag routing). Default N. */
  T?: number;
  /** Soft-MoE slots per expert. Default 1. */
  P?: number;
  postLayerNorm?: boolean;
  expertDropout?: number;
  topK?: number;
  loadBalancing?: boolean;
  tagToExpert?: number[];
  /** DSelect-k smooth-step γ. Default 1. */
  smoothStepGamma?: number;
}

export type OracleParams = Record<string, number[]>;

export interface OracleCtx {
  training: boolean;
  rng?: Rng;
  tags?: number[];
  hash?: number[];
  /** Router input override [B,C] (not used by dselect-k). */
  routerInput?: number[];
  /** Padding mask [B,S]. */
  mask?: number[];
  maskedMean?: boolean;
  /** ST-Gumbel temperature. Default 10. */
  temperature?: number;
  /**
   * Test hook for straight-through checks (st-gumbel training only): the value
   * of `yv_k.detach()` [B]. When given, the scale is `1 - stopGrad_b + yv_k`
   * instead of `1 - yv_k + yv_k`, so a finite difference of the oracle with
   * this held fixed reproduces the straight-through gradient.
   */
  stopGradValue?: number[];
}

export interface OracleOut {
  /** [B,S,C] = x + post(u). */
  y: number[];
  /** u [B,S,C]. */
  mixture: number[];
  probs?: number[];
  logits?: number[];
  index?: number[];
  upIndex?: number[];
  weights?: number[];
  slotWeights?: number[];
  logProbAction?: number[];
  baseline?: number[];
  /** ST-Gumbel training: the soft sample yv = softmax((logits'+g)/τ) [B,N]. */
  gumbelSoft?: number[];
  /** Router input v [B,C] actually used (dselect-k: its own mean of x). */
  routerInput?: number[];
  /** Unweighted block-level auxiliary terms. */
  aux: Record<string, number>;
}

// ---------------------------------------------------------------- helpers

export const SKILLS_EPS = 1.1920928955078125e-7;

const FRIENDLY: Record<string, string> = {
  parameter_averaging_routing: 'smear',
  soft_routing: 'ensemble',
  task_routing: 'tag',
  hash_routing: 'hash',
  switch_routing: 'topk',
  gs_st_routing: 'st-gumbel',
  reinf_bl_routing: 'reinforce',
  dselectk_routing: 'dselect-k',
  adamix_routing: 'adamix',
  skill_routing: 'skills',
  soft_input_routing: 'soft-moe',
  'top-k': 'topk',
  switch: 'topk',
  gumbel: 'st-gumbel',
  dselect: 'dselect-k',
  dselectk: 'dselect-k',
  softmoe: 'soft-moe',
  'one-adapter': 'dense',
};

export function canonicalMethod(m: string): string {
  return FRIENDLY[m] ?? m;
}

function sigmoid(t: number): number {
  return t >= 0 ? 1 / (1 + Math.exp(-t)) : Math.exp(t) / (1 + Math.exp(t));
}

export function swish(t: number): number {
  return t * sigmoid(t);
}

export function softmax(v: number[]): number[] {
  let mx = -Infinity;
  for (const a of v) if (a > mx) mx = a;
  const e = v.map((a) => Math.exp(a - mx));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((a) => a / s);
}

/** LayerNorm of one vector (biased variance). */
export function layerNorm(v: number[], gain: number[], bias: number[], eps = 1e-5): number[] {
  const n = v.length;
  let mean = 0;
  for (const a of v) mean += a;
  mean /= n;
  let vr = 0;
  for (const a of v) vr += (a - mean) * (a - mean);
  vr /= n;
  const inv = 1 / Math.sqrt(vr + eps);
  return v.map((a, i) => gain[i] * (a - mean) * inv + bias[i]);
}

/** DSelect-k smooth step with parameter γ. */
export function smoothStep(t: number, gamma = 1): number {
  if (t <= -gamma / 2) return 0;
  if (t >= gamma / 2) return 1;
  return (-2 / gamma ** 3) * t ** 3 + (3 / (2 * gamma)) * t + 0.5;
}

function argmaxFirst(v: number[]): number {
  let k = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[k]) k = i;
  return k;
}

function need(params: OracleParams, name: string, len: number): number[] {
  const p = params[name];
  if (!p) throw new Error(`oracle: missing parameter ${name}`);
  if (p.length !== len) throw new Error(`oracle: parameter ${name} has ${p.length} entries, expected ${len}`);
  return p;
}

/** One adapter: swish(x·Wd + bd)·Wu for x [S,C] (flat), Wd [C,d], bd [d], Wu [d,C]. */
function adapter(xs: number[], S: number, C: number, d: number, Wd: number[], bd: number[], Wu: number[]): number[] {
  const out = new Array<number>(S * C).fill(0);
  const z = new Array<number>(d);
  for (let s = 0; s < S; s++) {
    for (let j = 0; j < d; j++) {
      let a = bd[j];
      for (let c = 0; c < C; c++) a += xs[s * C + c] * Wd[c * d + j];
      z[j] = swish(a);
    }
    for (let c = 0; c < C; c++) {
      let a = 0;
      for (let j = 0; j < d; j++) a += z[j] * Wu[j * C + c];
      out[s * C + c] = a;
    }
  }
  return out;
}

interface Experts {
  down: number[];
  downBias: number[];
  up: number[];
}

function expertSlices(E: Experts, n: number, C: number, d: number): { Wd: number[]; bd: number[]; Wu: number[] } {
  return {
    Wd: E.down.slice(n * C * d, (n + 1) * C * d),
    bd: E.downBias.slice(n * d, (n + 1) * d),
    Wu: E.up.slice(n * d * C, (n + 1) * d * C),
  };
}

/** Parameter merge Σ_n w_n θ_n. */
function merged(E: Experts, w: number[], N: number, C: number, d: number): { Wd: number[]; bd: number[]; Wu: number[] } {
  const Wd = new Array<number>(C * d).fill(0);
  const bd = new Array<number>(d).fill(0);
  const Wu = new Array<number>(d * C).fill(0);
  for (let n = 0; n < N; n++) {
    const wn = w[n];
    for (let i = 0; i < C * d; i++) Wd[i] += wn * E.down[n * C * d + i];
    for (let i = 0; i < d; i++) bd[i] += wn * E.downBias[n * d + i];
    for (let i = 0; i < d * C; i++) Wu[i] += wn * E.up[n * d * C + i];
  }
  return { Wd, bd, Wu };
}

function expertOut(E: Experts, n: number, xs: number[], S: number, C: number, d: number): number[] {
  const e = expertSlices(E, n, C, d);
  return adapter(xs, S, C, d, e.Wd, e.bd, e.Wu);
}

// ---------------------------------------------------------------- forward

const SOFTMAX_ROUTER = new Set(['smear', 'ensemble', 'topk', 'st-gumbel', 'reinforce']);

export function oracleForward(
  cfg: OracleConfig,
  params: OracleParams,
  x: number[],
  B: number,
  S: number,
  ctx: OracleCtx,
): OracleOut {
  const method = canonicalMethod(cfg.method);
  const { N, C, d } = cfg;
  const T = cfg.T ?? N;
  const training = ctx.training;
  if (x.length !== B * S * C) throw new Error(`oracle: x has ${x.length} entries, expected ${B * S * C}`);
  const rng = ctx.rng;
  const needRng = (): Rng => {
    if (!rng) throw new Error(`oracle: ${method} training needs ctx.rng`);
    return rng;
  };
  const xb = (b: number): number[] => x.slice(b * S * C, (b + 1) * S * C);
  const out: OracleOut = { y: [], mixture: new Array<number>(B * S * C).fill(0), aux: {} };
  const mix = out.mixture;
  const addTo = (b: number, f: number[], w: number): void => {
    for (let i = 0; i < S * C; i++) mix[b * S * C + i] += w * f[i];
  };

  const ex: Experts = {
    down: need(params, 'experts.down', N * C * d),
    downBias: need(params, 'experts.downBias', N * d),
    up: need(params, 'experts.up', N * d * C),
  };

  // Router input v [B,C]: mean of x over S (masked when asked), or the override.
  const meanOfX = (): number[] => {
    const v = new Array<number>(B * C).fill(0);
    for (let b = 0; b < B; b++) {
      let den = 0;
      for (let s = 0; s < S; s++) {
        const w = ctx.maskedMean && ctx.mask ? ctx.mask[b * S + s] : 1;
        den += w;
        for (let c = 0; c < C; c++) v[b * C + c] += w * x[(b * S + s) * C + c];
      }
      for (let c = 0; c < C; c++) v[b * C + c] /= den;
    }
    return v;
  };
  const routerV = (): number[] => {
    if (method !== 'dselect-k' && ctx.routerInput) {
      if (ctx.routerInput.length !== B * C) throw new Error('oracle: routerInput must be [B,C]');
      return ctx.routerInput.slice();
    }
    return meanOfX();
  };
  const lnIn = (v: number[]): number[] => {
    const g = need(params, 'router.inNorm.gain', C);
    const bta = need(params, 'router.inNorm.bias', C);
    const o: number[] = [];
    for (let b = 0; b < B; b++) o.push(...layerNorm(v.slice(b * C, (b + 1) * C), g, bta));
    return o;
  };

  if (SOFTMAX_ROUTER.has(method)) {
    const v = routerV();
    out.routerInput = v;
    const skipLn = method === 'topk' && !!cfg.loadBalancing;
    const xh = skipLn ? v.slice() : lnIn(v);
    // LN_w over C of each expert column.
    const W = need(params, 'router.weight', C * N);
    const gw = need(params, 'router.weightNorm.gain', C);
    const bw = need(params, 'router.weightNorm.bias', C);
    const Weff = new Array<number>(C * N).fill(0);
    for (let n = 0; n < N; n++) {
      const col: number[] = [];
      for (let c = 0; c < C; c++) col.push(W[c * N + n]);
      const nc = layerNorm(col, gw, bw);
      for (let c = 0; c < C; c++) Weff[c * N + n] = nc[c];
    }
    const logits = new Array<number>(B * N).fill(0);
    for (let b = 0; b < B; b++)
      for (let n = 0; n < N; n++) {
        let a = 0;
        for (let c = 0; c < C; c++) a += xh[b * C + c] * Weff[c * N + n];
        logits[b * N + n] = a;
      }
    let probs: number[] = [];
    for (let b = 0; b < B; b++) probs.push(...softmax(logits.slice(b * N, (b + 1) * N)));
    const rate = cfg.expertDropout ?? 0;
    if (training && rate > 0) {
      const u = needRng().uniform(B * N);
      const p2: number[] = [];
      for (let b = 0; b < B; b++) {
        const row: number[] = [];
        for (let n = 0; n < N; n++) {
          const m = u[b * N + n] < rate ? 1 : 0;
          row.push(probs[b * N + n] * (1 - m) + 1e-10);
          logits[b * N + n] += m * -1e10;
        }
        const s = row.reduce((a, c) => a + c, 0);
        p2.push(...row.map((a) => a / s));
      }
      probs = p2;
    }
    out.probs = probs;
    out.logits = logits;
    const P = (b: number): number[] => probs.slice(b * N, (b + 1) * N);

    if (method === 'smear') {
      out.weights = probs.slice();
      for (let b = 0; b < B; b++) {
        const m = merged(ex, P(b), N, C, d);
        addTo(b, adapter(xb(b), S, C, d, m.Wd, m.bd, m.Wu), 1);
      }
    } else if (method === 'ensemble') {
      out.weights = probs.slice();
      for (let b = 0; b < B; b++) for (let n = 0; n < N; n++) addTo(b, expertOut(ex, n, xb(b), S, C, d), probs[b * N + n]);
    } else if (method === 'topk') {
      const k = cfg.topK ?? 1;
      const index: number[] = [];
      const weights = new Array<number>(B * N).fill(0);
      const counts = new Array<number>(B * N).fill(0);
      for (let b = 0; b < B; b++) {
        const p = P(b);
        // k largest, ties broken by lower index.
        const order = p.map((a, i) => i).sort((i, j) => (p[j] !== p[i] ? p[j] - p[i] : i - j));
        for (let j = 0; j < k; j++) {
          const e = order[j];
          index.push(e);
          weights[b * N + e] = p[e];
          counts[b * N + e] += 1;
          addTo(b, expertOut(ex, e, xb(b), S, C, d), p[e]);
        }
      }
      out.index = index;
      out.weights = weights;
      // Training-only, like every auxiliary loss (the reference computes it in training: kernel-lib/docs/reference-code.md#top-k).
      if (cfg.loadBalancing && training) {
        let lb = 0;
        for (let n = 0; n < N; n++) {
          let mp = 0;
          let mc = 0;
          for (let b = 0; b < B; b++) {
            mp += probs[b * N + n];
            mc += counts[b * N + n];
          }
          lb += (mp / B) * (mc / B);
        }
        out.aux.load_balancing = B * lb;
      }
    } else if (method === 'st-gumbel') {
      const index: number[] = [];
      const weights = new Array<number>(B * N).fill(0);
      if (training) {
        const tau = ctx.temperature ?? 10;
        const U = needRng().uniform(B * N);
        const soft: number[] = [];
        for (let b = 0; b < B; b++) {
          const z: number[] = [];
          for (let n = 0; n < N; n++) {
            const g = -Math.log(-Math.log(U[b * N + n] + 1e-20) + 1e-20);
            z.push((logits[b * N + n] + g) / tau);
          }
          soft.push(...softmax(z));
        }
        out.gumbelSoft = soft;
        for (let b = 0; b < B; b++) {
          const row = soft.slice(b * N, (b + 1) * N);
          const k = argmaxFirst(row);
          const sg = ctx.stopGradValue ? ctx.stopGradValue[b] : row[k];
          const val = 1 - sg + row[k];
          index.push(k);
          weights[b * N + k] = val;
          addTo(b, expertOut(ex, k, xb(b), S, C, d), val);
        }
      } else {
        for (let b = 0; b < B; b++) {
          const k = argmaxFirst(P(b));
          index.push(k);
          weights[b * N + k] = 1;
          addTo(b, expertOut(ex, k, xb(b), S, C, d), 1);
        }
      }
      out.index = index;
      out.weights = weights;
    } else {
      // reinforce
      const index: number[] = [];
      const weights = new Array<number>(B * N).fill(0);
      if (training) {
        const U = needRng().uniform(B);
        const lpa: number[] = [];
        for (let b = 0; b < B; b++) {
          const pi = softmax(logits.slice(b * N, (b + 1) * N));
          let cum = 0;
          let a = 0;
          for (let n = 0; n < N; n++) {
            cum += pi[n];
            if (cum <= U[b]) a++;
          }
          a = Math.min(a, N - 1);
          index.push(a);
          lpa.push(Math.log(probs[b * N + a] + 1e-20));
        }
        out.logProbAction = lpa;
        // Baseline: (x̂·w1 + b1)·w2 + b2 on the LayerNormed router input, no nonlinearity.
        const b1 = params['baseline.b1'];
        if (!b1) throw new Error('oracle: missing parameter baseline.b1');
        const h = b1.length;
        const w1 = need(params, 'baseline.w1', C * h);
        const w2 = need(params, 'baseline.w2', h);
        const b2 = need(params, 'baseline.b2', 1);
        const base: number[] = [];
        for (let b = 0; b < B; b++) {
          let o = b2[0];
          for (let j = 0; j < h; j++) {
            let a = b1[j];
            for (let c = 0; c < C; c++) a += xh[b * C + c] * w1[c * h + j];
            o += a * w2[j];
          }
          base.push(o);
        }
        out.baseline = base;
      } else {
        for (let b = 0; b < B; b++) index.push(argmaxFirst(P(b)));
      }
      for (let b = 0; b < B; b++) {
        weights[b * N + index[b]] = 1;
        addTo(b, expertOut(ex, index[b], xb(b), S, C, d), 1);
      }
      out.index = index;
      out.weights = weights;
    }
  } else if (method === 'tag' || method === 'hash') {
    const ids = method === 'tag' ? ctx.tags : ctx.hash;
    if (!ids) throw new Error(`oracle: ${method} routing needs ctx.${method === 'tag' ? 'tags' : 'hash'}`);
    const index: number[] = [];
    const weights = new Array<number>(B * N).fill(0);
    for (let b = 0; b < B; b++) {
      const e = method === 'tag' ? (cfg.tagToExpert ? cfg.tagToExpert[ids[b]] : ids[b]) : ids[b];
      index.push(e);
      weights[b * N + e] = 1;
      addTo(b, expertOut(ex, e, xb(b), S, C, d), 1);
    }
    out.index = index;
    out.weights = weights;
  } else if (method === 'dense') {
    if (N !== 1) throw new Error('oracle: dense expects N = 1');
    for (let b = 0; b < B; b++) addTo(b, expertOut(ex, 0, xb(b), S, C, d), 1);
  } else if (method === 'adamix') {
    if (training) {
      const r = needRng();
      const iDown = Array.from(r.uniformInt(B, N));
      const iUp = Array.from(r.uniformInt(B, N));
      for (let b = 0; b < B; b++) {
        const dn = expertSlices(ex, iDown[b], C, d);
        const up = expertSlices(ex, iUp[b], C, d);
        addTo(b, adapter(xb(b), S, C, d, dn.Wd, dn.bd, up.Wu), 1);
      }
      out.index = iDown;
      out.upIndex = iUp;
    } else {
      const w = new Array<number>(N).fill(1 / N);
      const m = merged(ex, w, N, C, d);
      for (let b = 0; b < B; b++) addTo(b, adapter(xb(b), S, C, d, m.Wd, m.bd, m.Wu), 1);
      const weights: number[] = [];
      for (let b = 0; b < B; b++) weights.push(...w);
      out.weights = weights;
    }
  } else if (method === 'skills') {
    const tags = ctx.tags;
    if (!tags) throw new Error('oracle: skills routing needs ctx.tags');
    const Sk = need(params, 'skills.logits', T * N);
    let A: number[];
    if (training) {
      const U = needRng().uniform(T * N);
      A = Sk.map((s, i) => {
        const u = Math.min(Math.max(U[i], SKILLS_EPS), 1 - SKILLS_EPS);
        return sigmoid(Math.log(u) - Math.log(1 - u) + s);
      });
    } else {
      A = Sk.map(sigmoid);
    }
    const weights: number[] = [];
    for (let b = 0; b < B; b++) {
      const row = A.slice(tags[b] * N, (tags[b] + 1) * N);
      const s = row.reduce((a, c) => a + c, 0);
      const p = row.map((a) => a / (s + 1e-12));
      weights.push(...p);
      const m = merged(ex, p, N, C, d);
      addTo(b, adapter(xb(b), S, C, d, m.Wd, m.bd, m.Wu), 1);
    }
    out.weights = weights;
    out.probs = weights.slice();
  } else if (method === 'dselect-k') {
    const v = meanOfX();
    out.routerInput = v;
    const xh = lnIn(v);
    const m = Math.max(1, Math.ceil(Math.log2(N)));
    const Z = need(params, 'dselect.z', C * m);
    const gamma = cfg.smoothStepGamma ?? 1;
    const q: number[] = [];
    for (let b = 0; b < B; b++) {
      const sv: number[] = [];
      for (let j = 0; j < m; j++) {
        let a = 0;
        for (let c = 0; c < C; c++) a += xh[b * C + c] * Z[c * m + j];
        sv.push(smoothStep(a, gamma));
      }
      for (let e = 0; e < N; e++) {
        let prod = 1;
        for (let j = 0; j < m; j++) {
          const bit = (e >> (m - 1 - j)) & 1;
          prod *= bit ? sv[j] : 1 - sv[j];
        }
        q.push(prod);
      }
    }
    for (let b = 0; b < B; b++) for (let e = 0; e < N; e++) addTo(b, expertOut(ex, e, xb(b), S, C, d), q[b * N + e]);
    out.probs = q.slice();
    out.weights = q.slice();
    if (training) {
      let ent = 0;
      let inv = 0;
      for (let b = 0; b < B; b++) {
        let sum = 0;
        for (let e = 0; e < N; e++) {
          const qq = q[b * N + e];
          ent += -qq * Math.log(qq + 1e-6);
          sum += qq + 1e-6;
        }
        inv += 1 / sum;
      }
      const pow2 = (N & (N - 1)) === 0;
      out.aux.dselect_regularizer = ent / B + (pow2 ? 0 : inv / B);
    }
  } else if (method === 'soft-moe') {
    const P = cfg.P ?? 1;
    const NP = N * P;
    const phi = need(params, 'softmoe.phi', C * NP);
    const scale = need(params, 'softmoe.scale', NP);
    const phiHat = new Array<number>(C * NP).fill(0);
    for (let j = 0; j < NP; j++) {
      let nrm = 0;
      for (let c = 0; c < C; c++) nrm += phi[c * NP + j] ** 2;
      nrm = Math.sqrt(nrm) + 1e-6;
      for (let c = 0; c < C; c++) phiHat[c * NP + j] = (phi[c * NP + j] / nrm) * scale[j];
    }
    const slotW = new Array<number>(B * N).fill(0);
    for (let b = 0; b < B; b++) {
      const xs = xb(b);
      const lg: number[][] = [];
      for (let s = 0; s < S; s++) {
        let nrm = 0;
        for (let c = 0; c < C; c++) nrm += xs[s * C + c] ** 2;
        nrm = Math.sqrt(nrm) + 1e-6;
        const row: number[] = [];
        for (let j = 0; j < NP; j++) {
          let a = 0;
          for (let c = 0; c < C; c++) a += (xs[s * C + c] / nrm) * phiHat[c * NP + j];
          row.push(a);
        }
        lg.push(row);
      }
      // Dispatch: softmax over S per slot; combine: softmax over slots per token.
      const D: number[][] = Array.from({ length: S }, () => new Array<number>(NP).fill(0));
      for (let j = 0; j < NP; j++) {
        const col = softmax(lg.map((r) => r[j]));
        for (let s = 0; s < S; s++) D[s][j] = col[s];
      }
      const Cw = lg.map((r) => softmax(r));
      const Y: number[][] = [];
      for (let j = 0; j < NP; j++) {
        const slot = new Array<number>(C).fill(0);
        for (let s = 0; s < S; s++) for (let c = 0; c < C; c++) slot[c] += D[s][j] * xs[s * C + c];
        Y.push(expertOut(ex, Math.floor(j / P), slot, 1, C, d));
      }
      for (let s = 0; s < S; s++)
        for (let j = 0; j < NP; j++) {
          const w = Cw[s][j];
          for (let c = 0; c < C; c++) mix[(b * S + s) * C + c] += w * Y[j][c];
          slotW[b * N + Math.floor(j / P)] += w / S;
        }
    }
    out.slotWeights = slotW;
  } else {
    throw new Error(`oracle: unknown method ${cfg.method}`);
  }

  // y = x + post(u)
  const y = x.slice();
  if (cfg.postLayerNorm) {
    const g = need(params, 'postNorm.gain', C);
    const bt = need(params, 'postNorm.bias', C);
    for (let t = 0; t < B * S; t++) {
      const ln = layerNorm(mix.slice(t * C, (t + 1) * C), g, bt);
      for (let c = 0; c < C; c++) y[t * C + c] += ln[c];
    }
  } else {
    for (let i = 0; i < y.length; i++) y[i] += mix[i];
  }
  out.y = y;
  return out;
}

// ---------------------------------------------------------------- losses

/** Huber loss with δ = 1. */
export function huber(a: number): number {
  const t = Math.abs(a);
  return t <= 1 ? 0.5 * t * t : t - 0.5;
}

/**
 * REINFORCE losses (kernel-lib/docs/reference-code.md#reinforce), means over (b, l):
 *   policy  = mean log(π_a + 1e-20)·(ℓ_b − b_{b,l})
 *   entropy = mean −Σ_n π log(π + 1e-20)
 *   value   = mean Huber(ℓ_b − b_{b,l})
 */
export function oracleReinforceLosses(
  blocks: { probs: number[]; index: number[]; baseline: number[] }[],
  perExampleLoss: number[],
  N: number,
): { policy: number; entropy: number; value: number } {
  const B = perExampleLoss.length;
  let policy = 0;
  let entropy = 0;
  let value = 0;
  for (const blk of blocks) {
    for (let b = 0; b < B; b++) {
      const A = perExampleLoss[b] - blk.baseline[b];
      const a = blk.index[b];
      policy += Math.log(blk.probs[b * N + a] + 1e-20) * A;
      let h = 0;
      for (let n = 0; n < N; n++) {
        const p = blk.probs[b * N + n];
        h += -p * Math.log(p + 1e-20);
      }
      entropy += h;
      value += huber(A);
    }
  }
  const cnt = B * blocks.length;
  return { policy: policy / cnt, entropy: entropy / cnt, value: value / cnt };
}

/**
 * AdaMix consistency ½[KL(p2‖p1) + KL(p1‖p2)] from log-probabilities [rows, cols].
 * Both reductions divide the total by `rows`: 'batchmean' (ResNet, rows = B) is
 * torch's KLDivLoss(reduction='batchmean'); 'mean' (T5) sums over the
 * vocabulary (cols) and averages over the rows (B·T positions).
 */
export function oracleAdamixConsistency(
  logp1: number[],
  logp2: number[],
  rows: number,
  cols: number,
  reduction: 'batchmean' | 'mean',
): number {
  if (logp1.length !== rows * cols || logp2.length !== rows * cols) throw new Error('oracle: adamix shapes');
  let kl21 = 0; // KL(p2 ‖ p1) = Σ p2 (log p2 − log p1)
  let kl12 = 0;
  for (let i = 0; i < rows * cols; i++) {
    kl21 += Math.exp(logp2[i]) * (logp2[i] - logp1[i]);
    kl12 += Math.exp(logp1[i]) * (logp1[i] - logp2[i]);
  }
  void reduction; // both reductions are total / rows (see doc comment)
  return (0.5 * (kl21 + kl12)) / rows;
}

/**
 * ST-Gumbel temperature used at training step `step` (0-based global step of
 * the forward about to run), kernel-lib/docs/reference-code.md#gumbel-temperature. Starting from τ0, for every earlier
 * global_step g < step with (g+1) % period == 0 the reference applies
 * τ ← max(τ·exp(−rate·g), minTemp) (compounding, g itself in the exponent).
 *
 * Convention: the notes' "9.95 @ 4,999" is the value right after the update
 * at global_step 4,999, i.e. the temperature of step 5,000:
 *   oracleGumbelTemperature(5000, T5) ≈ 9.950, (50000) ≈ 7.596, (100000) ≈ 3.500,
 *   (150000) ≈ 0.978, (174999) ≈ 0.510, (175000) = 0.5 (first clipped).
 *   ResNet: (1000) ≈ 9.049, (2000) ≈ 7.41, … (7000) ≈ 0.61, (8000) = 0.5.
 */
export function oracleGumbelTemperature(
  step: number,
  opts: { tau0: number; minTemp: number; rate: number; period: number },
): number {
  let tau = opts.tau0;
  for (let g = opts.period - 1; g < step; g += opts.period) {
    tau = Math.max(tau * Math.exp(-opts.rate * g), opts.minTemp);
  }
  return tau;
}
