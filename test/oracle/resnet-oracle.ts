/**
 * Independent float64 reference ("oracle") for the routed ResNet18 (kernel-lib/docs/reference-code.md#resnet-backbone,
 * #resnet-routing-blocks),
 * written with direct nested loops in PyTorch's NCHW layout from the
 * reference's PyTorch state-dict names (OIHW conv weights, [K,F] classifier).
 * It shares no code with kernel-lib/models: the routing mixture of each block
 * comes from `oracleForward` in ./routing-oracle (itself independent of
 * kernel-lib/routing).
 *
 *   stem 'imagenet': conv7×7/2 p3 → BN → ReLU → maxpool 3×3/2 p1;  'small': conv3×3/1 p1 → BN → ReLU
 *   BasicBlock k: o = bn2(conv2(relu(bn1(conv1(x))))) + identity;  z = BN_pre(o) → [B, H·W, C]
 *                 out = relu(o + u),  u = oracleForward(z) (hash column k, domain tags)
 *   head: mean over H,W → x·Wᵀ + b
 *
 * BatchNorm (PyTorch): training normalises with the biased batch variance and
 * returns running ← 0.9·running + 0.1·batch (unbiased variance); eval uses the
 * running statistics. eps 1e-5.
 */
import type { Rng } from '../../kernel-lib/util/rng';
import { oracleForward } from './routing-oracle';
import type { OracleConfig, OracleOut, OracleParams } from './routing-oracle';

export interface RefTensor {
  shape: number[];
  data: number[];
}
export type RefStateDict = Map<string, RefTensor>;

export interface ResNetOracleConfig {
  widths: number[];
  stem: 'imagenet' | 'small';
  /** Routing block configuration for the routing oracle (C is set per block). */
  routing: Omit<OracleConfig, 'C'>;
  /** Backbone BNs use running statistics even in training. */
  freezeBackboneBnStats?: boolean;
}

export interface ResNetOracleCtx {
  training: boolean;
  rng?: Rng;
  domainIds?: number[];
  /** [B,R] row-major. */
  hashIds?: number[];
  temperature?: number;
}

export interface ResNetOracleOut {
  logits: number[]; // [B,K]
  blocks: OracleOut[];
  /** Updated BN running statistics (training), keyed like the state dict (`….running_mean` / `….running_var`). */
  running: Map<string, number[]>;
}

interface Act {
  B: number;
  C: number;
  H: number;
  W: number;
  data: number[]; // NCHW
}

const at = (a: Act, b: number, c: number, h: number, w: number): number => a.data[((b * a.C + c) * a.H + h) * a.W + w];

function get(sd: RefStateDict, key: string, shape: number[]): number[] {
  const t = sd.get(key);
  if (!t) throw new Error(`resnet oracle: missing ${key}`);
  if (t.shape.join(',') !== shape.join(',')) throw new Error(`resnet oracle: ${key} has shape [${t.shape}], expected [${shape}]`);
  return t.data;
}

export function conv2d(x: Act, w: number[], co: number, k: number, stride: number, pad: number): Act {
  const Ho = Math.floor((x.H + 2 * pad - k) / stride) + 1;
  const Wo = Math.floor((x.W + 2 * pad - k) / stride) + 1;
  const out: Act = { B: x.B, C: co, H: Ho, W: Wo, data: new Array<number>(x.B * co * Ho * Wo).fill(0) };
  for (let b = 0; b < x.B; b++)
    for (let o = 0; o < co; o++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) {
          let s = 0;
          for (let ci = 0; ci < x.C; ci++)
            for (let u = 0; u < k; u++) {
              const hh = i * stride - pad + u;
              if (hh < 0 || hh >= x.H) continue;
              for (let v = 0; v < k; v++) {
                const ww = j * stride - pad + v;
                if (ww < 0 || ww >= x.W) continue;
                s += at(x, b, ci, hh, ww) * w[((o * x.C + ci) * k + u) * k + v];
              }
            }
          out.data[((b * co + o) * Ho + i) * Wo + j] = s;
        }
  return out;
}

export function maxPool3s2p1(x: Act): Act {
  const Ho = Math.floor((x.H + 2 - 3) / 2) + 1;
  const Wo = Math.floor((x.W + 2 - 3) / 2) + 1;
  const out: Act = { B: x.B, C: x.C, H: Ho, W: Wo, data: new Array<number>(x.B * x.C * Ho * Wo) };
  for (let b = 0; b < x.B; b++)
    for (let c = 0; c < x.C; c++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) {
          let m = -Infinity;
          for (let u = 0; u < 3; u++)
            for (let v = 0; v < 3; v++) {
              const hh = i * 2 - 1 + u;
              const ww = j * 2 - 1 + v;
              if (hh >= 0 && hh < x.H && ww >= 0 && ww < x.W) m = Math.max(m, at(x, b, c, hh, ww));
            }
          out.data[((b * x.C + c) * Ho + i) * Wo + j] = m;
        }
  return out;
}

const relu = (x: Act): Act => ({ ...x, data: x.data.map((v) => (v > 0 ? v : 0)) });
const add = (x: Act, y: Act): Act => ({ ...x, data: x.data.map((v, i) => v + y.data[i]) });

function batchNorm(x: Act, sd: RefStateDict, key: string, useBatch: boolean, running: Map<string, number[]>): Act {
  const C = x.C;
  const g = get(sd, `${key}.weight`, [C]);
  const bt = get(sd, `${key}.bias`, [C]);
  const rm = get(sd, `${key}.running_mean`, [C]);
  const rv = get(sd, `${key}.running_var`, [C]);
  const n = x.B * x.H * x.W;
  const mean = new Array<number>(C).fill(0);
  const vr = new Array<number>(C).fill(0);
  if (useBatch) {
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let b = 0; b < x.B; b++) for (let i = 0; i < x.H * x.W; i++) s += x.data[(b * C + c) * x.H * x.W + i];
      mean[c] = s / n;
      let q = 0;
      for (let b = 0; b < x.B; b++)
        for (let i = 0; i < x.H * x.W; i++) {
          const dlt = x.data[(b * C + c) * x.H * x.W + i] - mean[c];
          q += dlt * dlt;
        }
      vr[c] = q / n; // biased
    }
    running.set(`${key}.running_mean`, rm.map((r, c) => 0.9 * r + 0.1 * mean[c]));
    running.set(`${key}.running_var`, rv.map((r, c) => 0.9 * r + 0.1 * vr[c] * (n / (n - 1))));
  } else {
    for (let c = 0; c < C; c++) {
      mean[c] = rm[c];
      vr[c] = rv[c];
    }
  }
  const data = x.data.slice();
  for (let b = 0; b < x.B; b++)
    for (let c = 0; c < C; c++) {
      const inv = 1 / Math.sqrt(vr[c] + 1e-5);
      for (let i = 0; i < x.H * x.W; i++) {
        const idx = (b * C + c) * x.H * x.W + i;
        data[idx] = (x.data[idx] - mean[c]) * inv * g[c] + bt[c];
      }
    }
  return { ...x, data };
}

/** The routing oracle's parameter names ← the reference state-dict names under `<block>.adapter_controller.`. */
function routingParams(sd: RefStateDict, base: string): OracleParams {
  const names: Record<string, string> = {
    'experts.down': 'multi_adapters.down_samplers_weights',
    'experts.downBias': 'multi_adapters.down_samplers_bias',
    'experts.up': 'multi_adapters.up_samplers_weights',
    'router.weight': 'multi_routers.router_weights',
    'router.inNorm.gain': 'multi_routers.multi_router_layer_norms.0.weight',
    'router.inNorm.bias': 'multi_routers.multi_router_layer_norms.0.bias',
    'router.weightNorm.gain': 'multi_routers.multi_router_weights_layer_norms.0.weight',
    'router.weightNorm.bias': 'multi_routers.multi_router_weights_layer_norms.0.bias',
    'baseline.w1': 'multi_router_baselines.down_samplers_weights',
    'baseline.b1': 'multi_router_baselines.down_samplers_bias',
    'baseline.w2': 'multi_router_baselines.up_samplers_weights',
    'baseline.b2': 'multi_router_baselines.up_samplers_bias',
    'dselect.z': 'multi_routers.z_logits',
    'dselect.w': 'multi_routers.w_logits',
    'skills.logits': 'skill_weights',
    'softmoe.scale': 'multi_routers.scales',
  };
  const out: OracleParams = {};
  for (const [ours, ref] of Object.entries(names)) {
    const t = sd.get(`${base}.${ref}`);
    if (t) out[ours] = t.data; // row-major data is identical (leading M = 1 axes only)
  }
  // Soft MoE: router_weights is [C,N,P] (no [1,C,N] router) = softmoe.phi [C,N·P].
  const rw = sd.get(`${base}.multi_routers.router_weights`);
  if (rw && rw.shape.length === 3 && sd.has(`${base}.multi_routers.scales`)) {
    out['softmoe.phi'] = rw.data;
    delete out['router.weight'];
  }
  return out;
}

/** Forward of the routed ResNet. `pixels` is NCHW [B,3,H,W]. */
export function resnetOracle(
  cfg: ResNetOracleConfig,
  sd: RefStateDict,
  pixels: number[],
  B: number,
  H: number,
  W: number,
  ctx: ResNetOracleCtx,
): ResNetOracleOut {
  const running = new Map<string, number[]>();
  const bbBatch = ctx.training && !cfg.freezeBackboneBnStats;
  const w0 = cfg.widths[0];
  let x: Act = { B, C: 3, H, W, data: pixels.slice() };
  if (cfg.stem === 'imagenet') x = conv2d(x, get(sd, 'conv1.weight', [w0, 3, 7, 7]), w0, 7, 2, 3);
  else x = conv2d(x, get(sd, 'conv1.weight', [w0, 3, 3, 3]), w0, 3, 1, 1);
  x = relu(batchNorm(x, sd, 'bn1', bbBatch, running));
  if (cfg.stem === 'imagenet') x = maxPool3s2p1(x);
  const blocks: OracleOut[] = [];
  let k = 0;
  for (let l = 0; l < 4; l++) {
    const C = cfg.widths[l];
    for (let bi = 0; bi < 2; bi++) {
      const p = `layer${l + 1}.${bi}`;
      const stride = l > 0 && bi === 0 ? 2 : 1;
      let identity = x;
      if (stride !== 1 || x.C !== C) {
        identity = conv2d(x, get(sd, `${p}.downsample.0.weight`, [C, x.C, 1, 1]), C, 1, stride, 0);
        identity = batchNorm(identity, sd, `${p}.downsample.1`, bbBatch, running);
      }
      let o = conv2d(x, get(sd, `${p}.conv1.weight`, [C, x.C, 3, 3]), C, 3, stride, 1);
      o = relu(batchNorm(o, sd, `${p}.bn1`, bbBatch, running));
      o = conv2d(o, get(sd, `${p}.conv2.weight`, [C, C, 3, 3]), C, 3, 1, 1);
      o = batchNorm(o, sd, `${p}.bn2`, bbBatch, running);
      o = add(o, identity);
      const base = `${p}.adapter_controller`;
      const z = batchNorm(o, sd, `${base}.pre_batch_norm`, ctx.training, running);
      // NCHW → [B, S = H·W, C]
      const S = z.H * z.W;
      const x3 = new Array<number>(B * S * C);
      for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) for (let c = 0; c < C; c++) x3[(b * S + s) * C + c] = z.data[(b * C + c) * S + s];
      let hash: number[] | undefined;
      if (ctx.hashIds) {
        const R = ctx.hashIds.length / B;
        hash = Array.from({ length: B }, (_, b) => ctx.hashIds![b * R + k]);
      }
      const r = oracleForward({ ...cfg.routing, C }, routingParams(sd, base), x3, B, S, {
        training: ctx.training,
        rng: ctx.rng,
        tags: ctx.domainIds,
        hash,
        temperature: ctx.temperature,
      });
      blocks.push(r);
      const data = o.data.slice();
      for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) for (let c = 0; c < C; c++) data[(b * C + c) * S + s] += r.mixture[(b * S + s) * C + c];
      x = relu({ ...o, data });
      k++;
    }
  }
  const F = x.C;
  const pooled = new Array<number>(B * F).fill(0);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < F; c++) {
      let s = 0;
      for (let i = 0; i < x.H * x.W; i++) s += x.data[(b * F + c) * x.H * x.W + i];
      pooled[b * F + c] = s / (x.H * x.W);
    }
  const wt = sd.get('classification_layer.weight');
  if (!wt) throw new Error('resnet oracle: missing classification_layer.weight');
  const K = wt.shape[0];
  const Wc = get(sd, 'classification_layer.weight', [K, F]);
  const bc = get(sd, 'classification_layer.bias', [K]);
  const logits = new Array<number>(B * K);
  for (let b = 0; b < B; b++)
    for (let j = 0; j < K; j++) {
      let s = bc[j];
      for (let c = 0; c < F; c++) s += pooled[b * F + c] * Wc[j * F + c];
      logits[b * K + j] = s;
    }
  return { logits, blocks, running };
}
