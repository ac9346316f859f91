/**
 * RoutingBlock = Router + Experts + Method (the reference's AdapterController:
 * kernel-lib/docs/reference-code.md#routing-block).
 *
 *   v   = mean_s x[:, s, :]        (or ctx.routerInput; or a padding-masked mean)   [B,C]
 *   u   = method.mix(x, v)         the expert mixture                              [B,S,C]
 *   y   = x + (postLayerNorm ? LN_post(u) : u)                                      [B,S,C]
 *
 * T5 uses `forward` with postLayerNorm (y + LN_post(mixture(y))); ResNet
 * calls `forward` on BN_pre(o) and adds `mixture` to o itself (kernel-lib/docs/reference-code.md#resnet-routing-blocks).
 * One routing decision per example. `forward` returns the output with its
 * routing record and auxiliary losses, so analysis never needs hooks.
 *
 * Legend: B batch · S positions · C width · d bottleneck · N experts · T tags.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../util/rng';
import { Experts } from './experts';
import { Router, ROUTER_LN_EPS } from './router';
import { getMethod } from './registry';
import { layerNorm, positionMean } from './ops';
import { hostValuesOf } from '../backend/host-read';
import type { BlockParts, ResolvedBlockConfig, ResolvedContext, RoutingMethod } from './method';
import type { IdsLike, RoutingBlockConfig, RoutingContext, RoutingDraws, RoutingOutput } from './types';

/** Parameter of a block, with whether the method trains it and its learning-rate multiplier. */
export interface NamedParam {
  name: string;
  variable: tf.Variable;
  /** False for parameters that exist (as in reference checkpoints) but the method never reads. */
  used: boolean;
  lrScale: number;
}

let blockCounter = 0;

function checkInt(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new Error(`option ${name}: expected an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** Fill defaults and validate a block configuration (throws an Error naming the option). */
export function resolveBlockConfig(config: RoutingBlockConfig): { cfg: ResolvedBlockConfig; method: RoutingMethod } {
  if (config == null || typeof config !== 'object') throw new Error('RoutingBlock: expected a configuration object');
  const method = getMethod(config.method);
  const numExperts = checkInt('numExperts', config.numExperts ?? (method.kind === 'dense' ? 1 : 8), 1);
  const cfg: ResolvedBlockConfig = {
    method: method.name,
    width: checkInt('width', config.width, 1),
    numExperts,
    bottleneck: checkInt('bottleneck', config.bottleneck ?? 24, 1),
    expertDropout: config.expertDropout ?? method.defaultExpertDropout,
    postLayerNorm: config.postLayerNorm ?? false,
    maskedMean: config.maskedMean ?? false,
    numTags: checkInt('numTags', config.numTags ?? numExperts, 1),
    tagToExpert: [],
    topK: config.topK ?? 1,
    loadBalancing: config.loadBalancing ?? false,
    loadBalancingWeight: config.loadBalancingWeight ?? 0.01,
    dselectWeight: config.dselectWeight ?? 0.1,
    smoothStepGamma: config.smoothStepGamma ?? 1,
    slotsPerExpert: config.slotsPerExpert ?? 1,
    baselineReduction: checkInt('baselineReduction', config.baselineReduction ?? 8, 1),
    initScale: config.initScale ?? 0.01,
    name: config.name ?? `block${blockCounter++}`,
  };
  if (!(typeof cfg.expertDropout === 'number' && cfg.expertDropout >= 0 && cfg.expertDropout < 1)) {
    throw new Error(`option expertDropout: expected a number in [0, 1), got ${String(config.expertDropout)}`);
  }
  if (!(typeof cfg.initScale === 'number' && cfg.initScale > 0 && Number.isFinite(cfg.initScale))) {
    throw new Error(`option initScale: expected a positive number, got ${String(config.initScale)}`);
  }
  if (!(cfg.smoothStepGamma > 0)) throw new Error(`option smoothStepGamma: expected > 0, got ${cfg.smoothStepGamma}`);
  if (method.name === 'tag' && config.tagToExpert === undefined && cfg.numTags > numExperts) {
    throw new Error(`method 'tag': numTags ${cfg.numTags} > numExperts ${numExperts}; pass tagToExpert to share experts`);
  }
  const map = config.tagToExpert ?? Array.from({ length: cfg.numTags }, (_, t) => t);
  if (map.length !== cfg.numTags) {
    throw new Error(`option tagToExpert: expected ${cfg.numTags} entries (one per tag), got ${map.length}`);
  }
  map.forEach((e, t) => {
    if (!Number.isInteger(e) || e < 0 || e >= numExperts) {
      throw new Error(`option tagToExpert[${t}]: expected an expert index in [0, ${numExperts}), got ${e}`);
    }
  });
  cfg.tagToExpert = [...map];
  method.validate?.(cfg);
  return { cfg, method };
}

function toIds(ids: IdsLike, what: string, batch: number, max: number): Int32Array {
  const values: ArrayLike<number> = ids instanceof tf.Tensor ? hostValuesOf(ids, what) : ids;
  const shape = ids instanceof tf.Tensor ? ids.shape : [values.length];
  if (shape.length !== 1 || values.length !== batch) {
    throw new Error(`${what}: expected ${batch} ids (one per example, shape [${batch}]), got shape [${shape}]`);
  }
  const out = new Int32Array(batch);
  for (let i = 0; i < batch; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < 0 || v >= max) {
      throw new Error(`${what}[${i}]: expected an integer in [0, ${max}), got ${v}`);
    }
    out[i] = v;
  }
  return out;
}

export class RoutingBlock {
  readonly config: ResolvedBlockConfig;
  readonly method: RoutingMethod;
  readonly experts: Experts;
  readonly router: Router;
  /** Every parameter by name (see `namedParams` for use and learning-rate scale). */
  readonly params: Map<string, tf.Variable>;
  private readonly own: Record<string, tf.Variable>;
  private readonly postGain?: tf.Variable;
  private readonly postBias?: tf.Variable;

  constructor(config: RoutingBlockConfig) {
    const { cfg, method } = resolveBlockConfig(config);
    this.config = cfg;
    this.method = method;
    const rng = config.init instanceof Rng ? config.init : new Rng(config.init ?? 42);
    const { width: c, numExperts: n, bottleneck: d, initScale, name } = cfg;
    this.experts = new Experts(n, c, d, rng, initScale, name);
    // The router exists for every method, as in the reference (its checkpoints carry it).
    this.router = new Router(c, n, rng, initScale, name);
    this.own = method.createParams ? method.createParams(cfg, rng) : {};
    this.params = new Map<string, tf.Variable>([...this.experts.variables(), ...this.router.variables()]);
    if (cfg.postLayerNorm) {
      this.postGain = tf.variable(tf.ones([c]), true, `${name}/postNorm.gain`);
      this.postBias = tf.variable(tf.zeros([c]), true, `${name}/postNorm.bias`);
      this.params.set('postNorm.gain', this.postGain);
      this.params.set('postNorm.bias', this.postBias);
    }
    for (const [k, v] of Object.entries(this.own)) this.params.set(k, v);
  }

  /** Parameters with whether the method reads them and their learning-rate multiplier. */
  namedParams(): NamedParam[] {
    const m = this.method;
    const used = (name: string): boolean => {
      if (name === 'dselect.w') return false; // softmax over k = 1 selector ≡ 1
      if (name.startsWith('router.')) {
        if (m.usesRouter) return !(this.config.loadBalancing && name.startsWith('router.inNorm'));
        return !!m.usesRouterInputNorm && name.startsWith('router.inNorm');
      }
      return true;
    };
    return [...this.params].map(([name, variable]) => ({
      name,
      variable,
      used: used(name),
      lrScale: m.lrScale?.[name] ?? 1,
    }));
  }

  /** Number of parameters the method trains. */
  trainableParameterCount(): number {
    return this.namedParams()
      .filter((p) => p.used)
      .reduce((s, p) => s + p.variable.size, 0);
  }

  private resolveContext(x: tf.Tensor, ctx: RoutingContext): ResolvedContext {
    const { width, numExperts, numTags } = this.config;
    if (!(x instanceof tf.Tensor)) throw new Error(`RoutingBlock '${this.config.name}': input x must be a tf.Tensor`);
    if (x.rank !== 3 || x.shape[2] !== width) {
      throw new Error(
        `RoutingBlock '${this.config.name}': input x: expected shape [B,S,${width}] (batch, positions, width), got [${x.shape}]`,
      );
    }
    if (x.dtype !== 'float32') throw new Error(`RoutingBlock '${this.config.name}': input x: expected float32, got ${x.dtype}`);
    const [b, s] = x.shape;
    if (b < 1 || s < 1) throw new Error(`RoutingBlock '${this.config.name}': input x: empty batch or sequence, shape [${x.shape}]`);
    // No NaN/Inf check on x here: it would read the device once per block. The trainer
    // checks the loss once per step (train/trainer.ts), where a non-finite value surfaces.
    const out: ResolvedContext = {
      training: ctx.training ?? false,
      rng: ctx.rng,
      draws: undefined,
      temperature: ctx.temperature ?? 10,
      batch: b,
    };
    if (!(out.temperature > 0)) throw new Error(`ctx.temperature: expected a positive number, got ${ctx.temperature}`);
    if (this.method.needsTags) {
      if (ctx.tags == null) {
        throw new Error(`method '${this.method.name}' needs ctx.tags: one tag (task/domain) id per example, shape [${b}]`);
      }
      out.tags = toIds(ctx.tags, 'ctx.tags', b, numTags);
    }
    if (this.method.needsHash) {
      if (ctx.hash == null) throw new Error(`method 'hash' needs ctx.hash: one expert id per example for this block, shape [${b}]`);
      out.hash = toIds(ctx.hash, 'ctx.hash', b, numExperts);
    }
    if (ctx.routerInput && (ctx.routerInput.rank !== 2 || ctx.routerInput.shape[0] !== b || ctx.routerInput.shape[1] !== width)) {
      throw new Error(`ctx.routerInput: expected shape [${b},${width}], got [${ctx.routerInput.shape}]`);
    }
    if (ctx.draws) out.draws = this.checkDraws(ctx.draws, b);
    if (ctx.mask && (ctx.mask.rank !== 2 || ctx.mask.shape[0] !== b || ctx.mask.shape[1] !== s)) {
      throw new Error(`ctx.mask: expected shape [${b},${s}] (1 = real position), got [${ctx.mask.shape}]`);
    }
    return out;
  }

  private checkDraws(d: RoutingDraws, b: number): RoutingDraws {
    const { numExperts: n, numTags: t, name } = this.config;
    const check = (k: keyof RoutingDraws, len: number, shape: string, ints: boolean, max?: number) => {
      const v = d[k];
      if (v === undefined) return;
      if (!(ints ? v instanceof Int32Array : v instanceof Float32Array) || v.length !== len) {
        throw new Error(`RoutingBlock '${name}': ctx.draws.${k}: expected ${ints ? 'an Int32Array' : 'a Float32Array'} of ${len} values (${shape}), got ${v?.constructor?.name ?? typeof v} of ${(v as ArrayLike<number>)?.length}`);
      }
      for (let i = 0; i < v.length; i++) {
        const x = v[i];
        if (ints ? !(x >= 0 && x < max!) : !Number.isFinite(x) || (k === 'skillsUniform' && !(x >= 0 && x <= 1))) {
          throw new Error(`RoutingBlock '${name}': ctx.draws.${k}[${i}] = ${x}: expected ${ints ? `an expert index in [0, ${max})` : k === 'skillsUniform' ? 'a uniform in [0, 1]' : 'a finite number'}`);
        }
      }
    };
    check('gumbel', b * n, `[B,N] = [${b},${n}]`, false);
    check('action', b, `[B] = [${b}]`, true, n);
    check('adamixDown', b, `[B] = [${b}]`, true, n);
    check('adamixUp', b, `[B] = [${b}]`, true, n);
    check('skillsUniform', t * n, `[T,N] = [${t},${n}]`, false);
    return d;
  }

  /** The expert mixture u [B,S,C] with the routing record and aux losses (no residual, no post-norm). */
  mix(x: tf.Tensor3D, ctx: RoutingContext = {}): Omit<RoutingOutput, 'y'> {
    const rctx = this.resolveContext(x, ctx);
    const result = tf.tidy(() => {
      let v: tf.Tensor2D | undefined;
      const routerInput = (): tf.Tensor2D => {
        if (!v) {
          const override = this.method.ownRouterInput ? undefined : ctx.routerInput;
          v = override ?? positionMean(x, this.config.maskedMean ? ctx.mask : undefined); // [B,C]
        }
        return v;
      };
      const parts: BlockParts = {
        config: this.config,
        experts: this.experts,
        router: this.router,
        own: this.own,
        route: () =>
          this.router.route(routerInput(), {
            training: rctx.training,
            dropout: this.config.expertDropout,
            rng: rctx.rng,
            skipInputNorm: this.config.loadBalancing,
          }),
      };
      return this.method.mix(x, routerInput, rctx, parts) as unknown as tf.TensorContainer;
    });
    return result as unknown as Omit<RoutingOutput, 'y'>;
  }

  /** y = x + post(u), with the routing record and aux losses. */
  forward(x: tf.Tensor3D, ctx: RoutingContext = {}): RoutingOutput {
    const out = this.mix(x, ctx);
    const y = tf.tidy(() => {
      const post = this.postGain ? layerNorm(out.mixture, this.postGain, this.postBias!, ROUTER_LN_EPS) : out.mixture;
      return tf.add(x, post) as tf.Tensor3D;
    });
    return { y, ...out };
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
  }
}
