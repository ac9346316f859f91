/**
 * Independent float64 reference ("oracle") for the routed T5 v1.1 forward pass
 * in evaluation mode, written from kernel-lib/docs/reference-code.md#t5-backbone and the sections after it and the HF T5 definitions with
 * plain loops over JS number arrays. It shares no code with kernel-lib/models/t5;
 * the routing mixture comes from the routing oracle (`oracleForward`).
 *
 * Parameters are given by their Hugging Face names in torch layouts (Linear
 * weights [out,in], embeddings [V,C], relative tables [buckets,H]); routing
 * parameters by `<sublayer prefix>.adapter_controller.<routing name>` in the
 * routing oracle's layouts. Everything is row-major flat.
 *
 *   RMSNorm(x) = x / sqrt(mean(x²) + eps) · w
 *   attention  = softmax_j(q_i·k_j + bias[h,i,j]) v_j (no 1/sqrt(d_kv)); padded keys are
 *                skipped (weight exactly 0) in encoder self-attention and cross-attention
 *   FFN        = wo(gelu_new(wi_0 x) · wi_1 x)
 *   sublayer   = h + (y + LN_post(mixture(y)))  with y = Sublayer(RMSNorm(h))
 *   logits     = lm_head(RMSNorm_final(h) · d_model^-0.5)
 */
import { oracleForward, type OracleConfig, type OracleParams } from './routing-oracle';

export interface T5OracleConfig {
  dModel: number;
  dKv: number;
  dFf: number;
  numHeads: number;
  numLayers: number;
  numDecoderLayers: number;
  vocabSize: number;
  numBuckets: number;
  maxDistance: number;
  eps: number;
  /** Routing block configuration (C = dModel, postLayerNorm true). */
  routing: OracleConfig;
  /** Padding-masked router means. Default false. */
  maskedRouterMean?: boolean;
  /** Tag map for encoder blocks (tag routing). */
  encoderTagToExpert?: number[];
  /** Use the cross-attention table `decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight` when given. */
}

export interface T5OracleInputs {
  inputIds: number[][];
  attentionMask?: number[][];
  decoderInputIds: number[][];
  taskIds?: number[];
  /** hash[b][k]: expert for block k. */
  hash?: number[][];
}

export interface T5OracleOut {
  /** [B,T,V]. */
  logits: number[];
  /** Final encoder output [B,S,C]. */
  encoderOutput: number[];
  /** Per routing block (router order): the router input used and the routing probabilities (when any). */
  blocks: { routerInput?: number[]; probs?: number[]; weights?: number[] }[];
}

/** HF `_relative_position_bucket`, plainly in float64. */
export function oracleBucket(rel: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  let buckets = numBuckets;
  let ret = 0;
  let n = -rel;
  if (bidirectional) {
    buckets = buckets / 2;
    if (n < 0) ret += buckets;
    n = Math.abs(n);
  } else if (n < 0) {
    n = 0;
  }
  const maxExact = buckets / 2;
  if (n < maxExact) return ret + n;
  const large = maxExact + Math.floor((Math.log(n / maxExact) / Math.log(maxDistance / maxExact)) * (buckets - maxExact));
  return ret + Math.min(large, buckets - 1);
}

function get(p: Map<string, number[]>, key: string, size: number): number[] {
  const v = p.get(key);
  if (!v) throw new Error(`t5 oracle: missing parameter ${key}`);
  if (v.length !== size) throw new Error(`t5 oracle: ${key} has ${v.length} values, expected ${size}`);
  return v;
}

/** y[L,out] = x[L,in] · Wᵀ for a torch Linear weight W [out,in]. */
function linear(x: number[], L: number, inDim: number, W: number[], outDim: number): number[] {
  const y = new Array<number>(L * outDim).fill(0);
  for (let l = 0; l < L; l++) {
    for (let o = 0; o < outDim; o++) {
      let s = 0;
      for (let i = 0; i < inDim; i++) s += x[l * inDim + i] * W[o * inDim + i];
      y[l * outDim + o] = s;
    }
  }
  return y;
}

function rms(x: number[], L: number, C: number, w: number[], eps: number): number[] {
  const y = new Array<number>(L * C);
  for (let l = 0; l < L; l++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[l * C + c] ** 2;
    const r = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) y[l * C + c] = x[l * C + c] * r * w[c];
  }
  return y;
}

function gelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

export function oracleT5Forward(cfg: T5OracleConfig, p: Map<string, number[]>, inp: T5OracleInputs): T5OracleOut {
  const { dModel: C, dKv: K, dFf: F, numHeads: H, vocabSize: V, eps } = cfg;
  const B = inp.inputIds.length;
  const S = inp.inputIds[0].length;
  const T = inp.decoderInputIds[0].length;
  const mask = inp.attentionMask ?? inp.inputIds.map((r) => r.map(() => 1));
  const HK = H * K;
  const emb = get(p, 'shared.weight', V * C);
  const blocksOut: T5OracleOut['blocks'] = [];
  let routerIndex = 0;

  const embed = (ids: number[]): number[] => ids.flatMap((t) => emb.slice(t * C, (t + 1) * C));

  // attention for one example: xq [Lq,C], xkv [Lk,C], bias(h,i,j) or null = skip key
  const attention = (
    prefix: string,
    xq: number[],
    lq: number,
    xkv: number[],
    lk: number,
    bias: (h: number, i: number, j: number) => number | null,
  ): number[] => {
    const q = linear(xq, lq, C, get(p, `${prefix}.q.weight`, HK * C), HK);
    const k = linear(xkv, lk, C, get(p, `${prefix}.k.weight`, HK * C), HK);
    const v = linear(xkv, lk, C, get(p, `${prefix}.v.weight`, HK * C), HK);
    const ctx = new Array<number>(lq * HK).fill(0);
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < lq; i++) {
        const sc: (number | null)[] = [];
        for (let j = 0; j < lk; j++) {
          const bij = bias(h, i, j);
          if (bij === null) {
            sc.push(null);
            continue;
          }
          let s = 0;
          for (let d = 0; d < K; d++) s += q[i * HK + h * K + d] * k[j * HK + h * K + d];
          sc.push(s + bij);
        }
        const m = Math.max(...(sc.filter((s) => s !== null) as number[]));
        const e = sc.map((s) => (s === null ? 0 : Math.exp(s - m)));
        const z = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j < lk; j++) {
          const w = e[j] / z;
          for (let d = 0; d < K; d++) ctx[i * HK + h * K + d] += w * v[j * HK + h * K + d];
        }
      }
    }
    return linear(ctx, lq, HK, get(p, `${prefix}.o.weight`, C * HK), C);
  };

  const ffn = (prefix: string, x: number[], L: number): number[] => {
    const a = linear(x, L, C, get(p, `${prefix}.wi_0.weight`, F * C), F);
    const b = linear(x, L, C, get(p, `${prefix}.wi_1.weight`, F * C), F);
    const g = a.map((t, i) => gelu(t) * b[i]);
    return linear(g, L, F, get(p, `${prefix}.wo.weight`, C * F), C);
  };

  const routingParams = (prefix: string): OracleParams => {
    const out: OracleParams = {};
    const pre = `${prefix}.adapter_controller.`;
    for (const [k, v] of p) if (k.startsWith(pre)) out[k.slice(pre.length)] = v;
    return out;
  };

  // Route a whole batch y [B,L,C]; returns y + LN_post(u).
  const route = (prefix: string, y: number[], L: number, routerInput: number[] | undefined, tagMap?: number[]): number[] => {
    const rcfg: OracleConfig = { ...cfg.routing, C, postLayerNorm: true, tagToExpert: tagMap ?? cfg.routing.tagToExpert };
    const idx = routerIndex++;
    const o = oracleForward(rcfg, routingParams(prefix), y, B, L, {
      training: false,
      tags: inp.taskIds,
      hash: inp.hash?.map((row) => row[idx]),
      routerInput,
      mask: undefined,
      maskedMean: false,
    });
    blocksOut.push({ routerInput: o.routerInput, probs: o.probs, weights: o.weights });
    return o.y;
  };

  // Router input for encoder blocks: mean over positions of y (masked when asked).
  const meanRows = (x: number[], L: number, rowMask?: number[][]): number[] => {
    const v = new Array<number>(B * C).fill(0);
    for (let b = 0; b < B; b++) {
      let den = 0;
      for (let l = 0; l < L; l++) {
        const w = rowMask ? rowMask[b][l] : 1;
        den += w;
        for (let c = 0; c < C; c++) v[b * C + c] += w * x[(b * L + l) * C + c];
      }
      for (let c = 0; c < C; c++) v[b * C + c] /= den;
    }
    return v;
  };

  const perExample = (x: number[], L: number, f: (xb: number[], b: number) => number[]): number[] => {
    const out: number[] = [];
    for (let b = 0; b < B; b++) out.push(...f(x.slice(b * L * C, (b + 1) * L * C), b));
    return out;
  };
  const add = (a: number[], b: number[]) => a.map((v, i) => v + b[i]);

  // ------------------------------------------------------------ encoder
  const encTable = get(p, 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', cfg.numBuckets * H);
  let h = inp.inputIds.flatMap((ids) => embed(ids));
  for (let l = 0; l < cfg.numLayers; l++) {
    const pre = `encoder.block.${l}`;
    let x = rms(h, B * S, C, get(p, `${pre}.layer.0.layer_norm.weight`, C), eps);
    let y = perExample(x, S, (xb, b) =>
      attention(`${pre}.layer.0.SelfAttention`, xb, S, xb, S, (hh, i, j) =>
        mask[b][j] === 0 ? null : encTable[oracleBucket(j - i, true, cfg.numBuckets, cfg.maxDistance) * H + hh],
      ),
    );
    let ri = cfg.maskedRouterMean ? meanRows(y, S, mask) : undefined;
    h = add(h, route(`${pre}.layer.0`, y, S, ri, cfg.encoderTagToExpert));
    x = rms(h, B * S, C, get(p, `${pre}.layer.1.layer_norm.weight`, C), eps);
    y = ffn(`${pre}.layer.1.DenseReluDense`, x, B * S);
    ri = cfg.maskedRouterMean ? meanRows(y, S, mask) : undefined;
    h = add(h, route(`${pre}.layer.1`, y, S, ri, cfg.encoderTagToExpert));
  }
  const E = rms(h, B * S, C, get(p, 'encoder.final_layer_norm.weight', C), eps);
  const encMean = meanRows(E, S, cfg.maskedRouterMean ? mask : undefined);

  // ------------------------------------------------------------ decoder
  const decTable = get(p, 'decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', cfg.numBuckets * H);
  const crossTable = p.get('decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight');
  h = inp.decoderInputIds.flatMap((ids) => embed(ids));
  for (let l = 0; l < cfg.numDecoderLayers; l++) {
    const pre = `decoder.block.${l}`;
    let x = rms(h, B * T, C, get(p, `${pre}.layer.0.layer_norm.weight`, C), eps);
    let y = perExample(x, T, (xb) =>
      attention(`${pre}.layer.0.SelfAttention`, xb, T, xb, T, (hh, i, j) =>
        j > i ? null : decTable[oracleBucket(j - i, false, cfg.numBuckets, cfg.maxDistance) * H + hh],
      ),
    );
    h = add(h, route(`${pre}.layer.0`, y, T, encMean));
    x = rms(h, B * T, C, get(p, `${pre}.layer.1.layer_norm.weight`, C), eps);
    y = perExample(x, T, (xb, b) =>
      attention(`${pre}.layer.1.EncDecAttention`, xb, T, E.slice(b * S * C, (b + 1) * S * C), S, (hh, i, j) =>
        mask[b][j] === 0 ? null : crossTable ? crossTable[oracleBucket(j - i, true, cfg.numBuckets, cfg.maxDistance) * H + hh] : 0,
      ),
    );
    h = add(h, route(`${pre}.layer.1`, y, T, encMean));
    x = rms(h, B * T, C, get(p, `${pre}.layer.2.layer_norm.weight`, C), eps);
    y = ffn(`${pre}.layer.2.DenseReluDense`, x, B * T);
    h = add(h, route(`${pre}.layer.2`, y, T, encMean));
  }
  const out = rms(h, B * T, C, get(p, 'decoder.final_layer_norm.weight', C), eps).map((v) => v * C ** -0.5);
  const logits = linear(out, B * T, C, get(p, 'lm_head.weight', V * C), V);
  return { logits, encoderOutput: E, blocks: blocksOut };
}
