/**
 * ResNet18 with a routing block in each of its 8 BasicBlocks
 * (kernel-lib/docs/reference-code.md#resnet-backbone, #resnet-routing-blocks; the
 * reference's `cvl/src/resnet/modeling_resnet.py`).
 *
 *   stem 'imagenet': conv7×7/2 (pad 3) → BN → ReLU → maxpool 3×3/2 (pad 1)   (torchvision)
 *   stem 'small':    conv3×3/1 (pad 1) → BN → ReLU                           (32–64 px mini images)
 *   layer1..4: two BasicBlocks each, widths [64,128,256,512], stride 2 from layer2 on
 *   BasicBlock k (k = 0..7 in module order; reads hash column k):
 *     o   = bn2(conv2(relu(bn1(conv1(x))))) + identity     identity = x or downsample(x) (1×1 conv/s + BN)
 *     z   = BN_pre(o)                                       trainable affine BatchNorm2d(C), running stats
 *     u   = routing.mix(reshape(z, [B, H·W, C]))           router input = mean over H·W of z
 *     out = relu(o + reshape(u, [B,H,W,C]))
 *   head: global average pool → Linear(F, K)  (F = widths[3]; PyTorch default init U(±1/√F))
 *
 * Layout: NHWC activations, conv weights HWIO [kh,kw,in,out], classifier
 * weight [F,K] (in×out). `stateDict` / `loadStateDict` speak the reference's
 * PyTorch names and layouts (OIHW convs, [K,F] classifier) — see
 * `stateDictKeys` for the full list.
 *
 * BatchNorm running statistics (backbone and BN_pre) are updated inside
 * `forward` in training mode, by `Variable.assign` of values the output does
 * not depend on, so `forward` can run inside `tf.variableGrads` (see
 * ./batchnorm). With `freezeBackboneBnStats` the backbone BNs use and keep
 * their running statistics in training (BN_pre always trains).
 *
 * Legend: B batch · H,W spatial · C channels · N experts · d bottleneck · K classes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { hostValuesOf } from '../../backend/host-read';
import { Rng } from '../../util/rng';
import { RoutingBlock } from '../../routing/block';
import { getMethod } from '../../routing/registry';
import type { AuxLoss, DrawsForBlock, RoutingBlockConfig, RoutingRecord } from '../../routing/types';
import { BatchNorm } from './batchnorm';
import { routingReferenceName, routingReferenceShape } from '../../io/reference-names';

export type ResNetStem = 'imagenet' | 'small';

/** Routing options shared by the 8 blocks (RoutingBlockConfig without width/name/init). */
export type ResNetRoutingConfig = Omit<RoutingBlockConfig, 'width' | 'name' | 'init' | 'postLayerNorm'>;

export interface ResNetConfig {
  /** K. Default 345 (DomainNet). */
  numClasses?: number;
  /** Stage widths. Default [64,128,256,512] (ResNet18). */
  widths?: [number, number, number, number] | number[];
  /** Default 'imagenet'. */
  stem?: ResNetStem;
  /** Routing method and sizes; numExperts default 6, bottleneck default 32 (kernel-lib/docs/reference-code.md#sizes). */
  routing: ResNetRoutingConfig;
  /** Backbone convs and BN affine parameters frozen (the reference). Default true. */
  freezeBackbone?: boolean;
  /** Keep backbone BN running statistics fixed in training. Default false (reference: they keep updating). */
  freezeBackboneBnStats?: boolean;
  /** Seed of the parameter initialisation. Default 42. */
  seed?: number;
}

export type ResolvedResNetConfig = Required<Omit<ResNetConfig, 'routing' | 'widths'>> & {
  widths: number[];
  routing: ResNetRoutingConfig & { numExperts: number; bottleneck: number };
};

export interface ResNetContext {
  training: boolean;
  /** Training-time randomness (expert dropout, sampling); required when the method draws any. */
  rng?: Rng;
  /** Domain (tag) id per example [B]; needed by tag and skills routing. */
  domainIds?: Int32Array;
  /** Hash labels [B,R] row-major, R ≥ 8; block k reads column k. Needed by hash routing. */
  hashIds?: Int32Array;
  /** ST-Gumbel temperature. */
  temperature?: number;
  /** Given routing draws per block (0..7), instead of drawing them from `rng` (`smear step`). */
  draws?: DrawsForBlock;
}

export interface ResNetOutput {
  logits: tf.Tensor2D; // [B,K]
  /** One routing record per block, in module order. */
  records: RoutingRecord[];
  /** Auxiliary losses of every block (block-scoped ones; add weight·value). */
  aux: AuxLoss[];
}

export interface TrainableParam {
  name: string;
  variable: tf.Variable;
  lrScale: number;
}

/** A tensor to load: a tf.Tensor or plain data with a shape (e.g. from readSafetensors). */
export type TensorLike = tf.Tensor | { shape: number[]; data: ArrayLike<number> };

export const RESNET18_WIDTHS = [64, 128, 256, 512];
export const NUM_ROUTING_BLOCKS = 8;

let modelCounter = 0;

class Conv {
  /** HWIO [k,k,in,out]. */
  readonly weight: tf.Variable;
  constructor(
    readonly inC: number,
    readonly outC: number,
    readonly k: number,
    readonly stride: number,
    readonly pad: number,
    rng: Rng,
    trainable: boolean,
    name: string,
  ) {
    // kaiming_normal_(mode='fan_out', nonlinearity='relu'): std = sqrt(2 / (out·k·k)).
    const std = Math.sqrt(2 / (outC * k * k));
    this.weight = tf.variable(tf.tensor4d(rng.normal(k * k * inC * outC, std), [k, k, inC, outC]), trainable, name);
  }
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.conv2d(x, this.weight as tf.Tensor4D, this.stride, this.pad);
  }
}

interface Block {
  /** `layer{l}.{b}` */
  prefix: string;
  index: number;
  width: number;
  conv1: Conv;
  bn1: BatchNorm;
  conv2: Conv;
  bn2: BatchNorm;
  down?: { conv: Conv; bn: BatchNorm };
  preNorm: BatchNorm;
  routing: RoutingBlock;
}

/** How one reference state-dict entry maps to our state. */
interface StateEntry {
  key: string;
  /** Shape in the reference (PyTorch) layout. */
  shape: number[];
  kind: 'float' | 'counter';
  get(): tf.Tensor;
  /** Assign a float tensor (kind 'float'). */
  set(t: tf.Tensor): void;
  /** Assign a counter from its host value (kind 'counter': BN's num_batches_tracked lives on the host). */
  setCount?(n: number): void;
  /** The variable behind a float entry, and the layout change of a tensor shaped like it. */
  variable?: tf.Variable;
  toReference?(t: tf.Tensor): tf.Tensor;
}

/** A reference state-dict entry backed by one of our variables (for gradients under reference names). */
export interface ReferenceLayoutEntry {
  key: string;
  shape: number[];
  variable: tf.Variable;
  /** Our layout → the reference's (a transpose or reshape) for a tensor shaped like `variable`. */
  toReference(t: tf.Tensor): tf.Tensor;
}


function shapeStr(s: readonly number[]): string {
  return `[${s.join(',')}]`;
}

function toTensor(value: TensorLike, key: string, dtype: 'float32' | 'int32'): tf.Tensor {
  if (value instanceof tf.Tensor) return value.dtype === dtype ? tf.clone(value) : tf.cast(value, dtype);
  if (value == null || !Array.isArray(value.shape) || value.data == null) {
    throw new Error(`state dict '${key}': expected a tf.Tensor or { shape, data }`);
  }
  const n = value.shape.reduce((a, b) => a * b, 1);
  if (value.data.length !== n) throw new Error(`state dict '${key}': shape ${shapeStr(value.shape)} needs ${n} values, got ${value.data.length}`);
  const data = dtype === 'float32' ? Float32Array.from(value.data) : Int32Array.from(value.data);
  return tf.tensor(data, value.shape, dtype);
}

export class RoutedResNet {
  readonly config: ResolvedResNetConfig;
  /** Friendly routing method name (e.g. 'smear'). */
  readonly method: string;
  readonly conv1: Conv;
  readonly bn1: BatchNorm;
  readonly blocks: Block[] = [];
  /** [F,K] (in×out). */
  readonly classifierWeight: tf.Variable;
  readonly classifierBias: tf.Variable;
  private readonly id: string;

  constructor(config: ResNetConfig) {
    if (config == null || typeof config !== 'object') throw new Error('RoutedResNet: expected a configuration object');
    if (config.routing == null || typeof config.routing.method !== 'string') {
      throw new Error('RoutedResNet: option routing.method is required (e.g. { routing: { method: "smear" } })');
    }
    const method = getMethod(config.routing.method);
    const widths = [...(config.widths ?? RESNET18_WIDTHS)];
    if (widths.length !== 4 || !widths.every((w) => Number.isInteger(w) && w >= 1)) {
      throw new Error(`RoutedResNet: option widths: expected 4 positive integers, got ${JSON.stringify(config.widths)}`);
    }
    const stem = config.stem ?? 'imagenet';
    if (stem !== 'imagenet' && stem !== 'small') throw new Error(`RoutedResNet: option stem: expected 'imagenet' or 'small', got '${stem}'`);
    const numClasses = config.numClasses ?? 345;
    if (!Number.isInteger(numClasses) || numClasses < 1) {
      throw new Error(`RoutedResNet: option numClasses: expected a positive integer, got ${numClasses}`);
    }
    if ((config.routing as RoutingBlockConfig).postLayerNorm) {
      throw new Error('RoutedResNet: option routing.postLayerNorm is not used in the ResNet setting (the reference\'s ResNet routing blocks have no post-norm)');
    }
    const numExperts = config.routing.numExperts ?? (method.kind === 'dense' ? 1 : 6);
    const routing: ResolvedResNetConfig['routing'] = { ...config.routing, numExperts, bottleneck: config.routing.bottleneck ?? 32 };
    if (method.name === 'skills') {
      // Latent Skills: T = the 6 DomainNet domains (the reference's num_domains), whatever N is.
      routing.numTags = config.routing.numTags ?? 6;
      // The tag → expert map is unused by skills; keep the block's validation happy when T > N.
      routing.tagToExpert ??= Array.from({ length: routing.numTags }, (_, t) => t % numExperts);
    }
    this.config = {
      numClasses,
      widths,
      stem,
      routing,
      freezeBackbone: config.freezeBackbone ?? true,
      freezeBackboneBnStats: config.freezeBackboneBnStats ?? false,
      seed: config.seed ?? 42,
    };
    this.method = method.name;
    this.id = `resnet${modelCounter++}`;
    const rng = new Rng(this.config.seed);
    const bbTrainable = !this.config.freezeBackbone;
    const bn = (name: string, channels: number): BatchNorm =>
      new BatchNorm({ channels, name: `${this.id}/${name}`, trainable: bbTrainable, freezeStats: this.config.freezeBackboneBnStats });
    const v = (name: string) => `${this.id}/${name}`;

    this.conv1 =
      stem === 'imagenet'
        ? new Conv(3, widths[0], 7, 2, 3, rng, bbTrainable, v('conv1.weight'))
        : new Conv(3, widths[0], 3, 1, 1, rng, bbTrainable, v('conv1.weight'));
    this.bn1 = bn('bn1', widths[0]);
    let inC = widths[0];
    let index = 0;
    for (let l = 0; l < 4; l++) {
      const c = widths[l];
      for (let b = 0; b < 2; b++) {
        const prefix = `layer${l + 1}.${b}`;
        const stride = l > 0 && b === 0 ? 2 : 1;
        const block: Block = {
          prefix,
          index,
          width: c,
          conv1: new Conv(inC, c, 3, stride, 1, rng, bbTrainable, v(`${prefix}.conv1.weight`)),
          bn1: bn(`${prefix}.bn1`, c),
          conv2: new Conv(c, c, 3, 1, 1, rng, bbTrainable, v(`${prefix}.conv2.weight`)),
          bn2: bn(`${prefix}.bn2`, c),
          preNorm: new BatchNorm({ channels: c, name: v(`${prefix}.preNorm`), trainable: true }),
          routing: new RoutingBlock({ ...routing, width: c, init: rng.fork(), name: v(prefix) }),
        };
        if (stride !== 1 || inC !== c) {
          block.down = {
            conv: new Conv(inC, c, 1, stride, 0, rng, bbTrainable, v(`${prefix}.downsample.0.weight`)),
            bn: bn(`${prefix}.downsample.1`, c),
          };
        }
        this.blocks.push(block);
        inC = c;
        index++;
      }
    }
    const f = widths[3];
    const bound = 1 / Math.sqrt(f);
    this.classifierWeight = tf.variable(tf.tensor2d(rng.uniformRange(f * numClasses, -bound, bound), [f, numClasses]), true, v('classifier.weight'));
    this.classifierBias = tf.variable(tf.tensor1d(rng.uniformRange(numClasses, -bound, bound)), true, v('classifier.bias'));
  }

  /** Number of experts N, bottleneck d, classes K (convenience). */
  get numExperts(): number {
    return this.config.routing.numExperts;
  }

  private checkInputs(pixels: tf.Tensor4D, ctx: ResNetContext): { b: number; hashCols?: Int32Array[] } {
    if (!(pixels instanceof tf.Tensor) || pixels.rank !== 4 || pixels.shape[3] !== 3) {
      throw new Error(
        `RoutedResNet.forward: pixels: expected shape [B,H,W,3] (NHWC, normalised RGB), got ${pixels instanceof tf.Tensor ? shapeStr(pixels.shape) : typeof pixels}`,
      );
    }
    if (pixels.dtype !== 'float32') throw new Error(`RoutedResNet.forward: pixels: expected float32, got ${pixels.dtype}`);
    const b = pixels.shape[0];
    if (ctx == null || typeof ctx.training !== 'boolean') throw new Error('RoutedResNet.forward: ctx.training (boolean) is required');
    if (ctx.domainIds != null && ctx.domainIds.length !== b) {
      throw new Error(`RoutedResNet.forward: ctx.domainIds: expected ${b} ids (one per example), got ${ctx.domainIds.length}`);
    }
    let hashCols: Int32Array[] | undefined;
    if (ctx.hashIds != null) {
      const r = ctx.hashIds.length / b;
      if (!Number.isInteger(r) || r < NUM_ROUTING_BLOCKS) {
        throw new Error(
          `RoutedResNet.forward: ctx.hashIds: expected [B,R] row-major with B = ${b} and R >= ${NUM_ROUTING_BLOCKS}, got ${ctx.hashIds.length} values`,
        );
      }
      hashCols = [];
      for (let k = 0; k < NUM_ROUTING_BLOCKS; k++) {
        const col = new Int32Array(b);
        for (let i = 0; i < b; i++) col[i] = ctx.hashIds[i * r + k];
        hashCols.push(col);
      }
    }
    return { b, hashCols };
  }

  /**
   * Forward pass: logits [B,K], the 8 routing records, block auxiliary losses.
   * Callable inside tf.variableGrads. In training mode BN running statistics
   * are updated (see the module comment).
   */
  forward(pixels: tf.Tensor4D, ctx: ResNetContext): ResNetOutput {
    const { hashCols } = this.checkInputs(pixels, ctx);
    const training = ctx.training;
    return tf.tidy(() => {
      let x = this.conv1.apply(pixels);
      x = tf.relu(this.bn1.apply(x, training)) as tf.Tensor4D;
      if (this.config.stem === 'imagenet') x = tf.maxPool(x, 3, 2, 1);
      const records: RoutingRecord[] = [];
      const aux: AuxLoss[] = [];
      for (const blk of this.blocks) {
        const identity = blk.down ? (blk.down.bn.apply(blk.down.conv.apply(x), training) as tf.Tensor4D) : x;
        let o = tf.relu(blk.bn1.apply(blk.conv1.apply(x), training)) as tf.Tensor4D;
        o = blk.bn2.apply(blk.conv2.apply(o), training) as tf.Tensor4D;
        o = tf.add(o, identity);
        const [b, h, w, c] = o.shape;
        const z = blk.preNorm.apply(o, training);
        const out = blk.routing.mix(tf.reshape(z, [b, h * w, c]) as tf.Tensor3D, {
          training,
          rng: ctx.rng,
          tags: ctx.domainIds,
          hash: hashCols?.[blk.index],
          temperature: ctx.temperature,
          draws: ctx.draws?.(blk.index),
        });
        records.push(out.record);
        aux.push(...out.aux);
        x = tf.relu(tf.add(o, tf.reshape(out.mixture, [b, h, w, c]))) as tf.Tensor4D;
      }
      const pooled = tf.mean(x, [1, 2]) as tf.Tensor2D; // [B,F]
      const logits = tf.add(tf.matMul(pooled, this.classifierWeight as tf.Tensor2D), this.classifierBias) as tf.Tensor2D;
      return { logits, records, aux } as unknown as tf.TensorContainer;
    }) as unknown as ResNetOutput;
  }

  private backboneParams(): TrainableParam[] {
    const out: TrainableParam[] = [];
    const bnP = (name: string, bn: BatchNorm) => {
      out.push({ name: `${name}.weight`, variable: bn.weight, lrScale: 1 }, { name: `${name}.bias`, variable: bn.bias, lrScale: 1 });
    };
    out.push({ name: 'conv1.weight', variable: this.conv1.weight, lrScale: 1 });
    bnP('bn1', this.bn1);
    for (const blk of this.blocks) {
      out.push({ name: `${blk.prefix}.conv1.weight`, variable: blk.conv1.weight, lrScale: 1 });
      bnP(`${blk.prefix}.bn1`, blk.bn1);
      out.push({ name: `${blk.prefix}.conv2.weight`, variable: blk.conv2.weight, lrScale: 1 });
      bnP(`${blk.prefix}.bn2`, blk.bn2);
      if (blk.down) {
        out.push({ name: `${blk.prefix}.downsample.0.weight`, variable: blk.down.conv.weight, lrScale: 1 });
        bnP(`${blk.prefix}.downsample.1`, blk.down.bn);
      }
    }
    return out;
  }

  /**
   * What the optimizer trains: every routing parameter the method uses
   * (`layer1.0.experts.down`, …, with the method's learning-rate scale), every
   * BN_pre weight/bias (`layer1.0.preNorm.weight`), the classifier
   * (`classifier.weight` [F,K], `classifier.bias`); plus the backbone when
   * `freezeBackbone` is false.
   */
  trainableParams(): TrainableParam[] {
    const out: TrainableParam[] = this.config.freezeBackbone ? [] : this.backboneParams();
    for (const blk of this.blocks) {
      for (const p of blk.routing.namedParams()) {
        if (p.used) out.push({ name: `${blk.prefix}.${p.name}`, variable: p.variable, lrScale: p.lrScale });
      }
      out.push(
        { name: `${blk.prefix}.preNorm.weight`, variable: blk.preNorm.weight, lrScale: 1 },
        { name: `${blk.prefix}.preNorm.bias`, variable: blk.preNorm.bias, lrScale: 1 },
      );
    }
    out.push({ name: 'classifier.weight', variable: this.classifierWeight, lrScale: 1 }, { name: 'classifier.bias', variable: this.classifierBias, lrScale: 1 });
    return out;
  }

  /** Every variable (trainable or not, incl. BN running statistics) by our name. num_batches_tracked lives in stateDict only. */
  variables(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    const bnV = (name: string, bn: BatchNorm) => {
      for (const [k, v] of bn.variables()) out.set(`${name}.${k}`, v);
    };
    out.set('conv1.weight', this.conv1.weight);
    bnV('bn1', this.bn1);
    for (const blk of this.blocks) {
      out.set(`${blk.prefix}.conv1.weight`, blk.conv1.weight);
      bnV(`${blk.prefix}.bn1`, blk.bn1);
      out.set(`${blk.prefix}.conv2.weight`, blk.conv2.weight);
      bnV(`${blk.prefix}.bn2`, blk.bn2);
      if (blk.down) {
        out.set(`${blk.prefix}.downsample.0.weight`, blk.down.conv.weight);
        bnV(`${blk.prefix}.downsample.1`, blk.down.bn);
      }
      bnV(`${blk.prefix}.preNorm`, blk.preNorm);
      for (const [k, v] of blk.routing.params) out.set(`${blk.prefix}.${k}`, v);
    }
    out.set('classifier.weight', this.classifierWeight);
    out.set('classifier.bias', this.classifierBias);
    return out;
  }

  /** Number of trainable parameters (default) or of all parameters (`'all'`, excluding BN running statistics). */
  parameterCount(which: 'trainable' | 'all' = 'trainable'): number {
    if (which === 'trainable') return this.trainableParams().reduce((s, p) => s + p.variable.size, 0);
    let n = 0;
    for (const [name, v] of this.variables()) if (!/running_(mean|var)$/.test(name)) n += v.size;
    return n;
  }

  // ------------------------------------------------------------------ state dict

  private bnEntries(key: string, bn: BatchNorm): StateEntry[] {
    const c = bn.channels;
    const vec = (suffix: string, v: tf.Variable): StateEntry => ({
      key: `${key}.${suffix}`,
      shape: [c],
      kind: 'float',
      get: () => tf.clone(v),
      set: (t) => v.assign(t),
      variable: v,
      toReference: (t) => tf.clone(t),
    });
    return [
      vec('weight', bn.weight),
      vec('bias', bn.bias),
      vec('running_mean', bn.runningMean),
      vec('running_var', bn.runningVar),
      {
        key: `${key}.num_batches_tracked`,
        shape: [],
        kind: 'counter',
        get: () => tf.scalar(bn.numBatchesTracked, 'int32'),
        set: (t) => {
          bn.numBatchesTracked = hostValuesOf(t, `${key}.num_batches_tracked`)[0];
        },
        setCount: (n) => {
          bn.numBatchesTracked = n;
        },
      },
    ];
  }

  private convEntry(key: string, conv: Conv): StateEntry {
    return {
      key,
      shape: [conv.outC, conv.inC, conv.k, conv.k], // OIHW
      kind: 'float',
      get: () => tf.transpose(conv.weight, [3, 2, 0, 1]), // HWIO → OIHW
      set: (t) => conv.weight.assign(tf.transpose(t, [2, 3, 1, 0])), // OIHW → HWIO
      variable: conv.weight,
      toReference: (t) => tf.transpose(t, [3, 2, 0, 1]),
    };
  }

  private backboneEntries(): StateEntry[] {
    const out: StateEntry[] = [this.convEntry('conv1.weight', this.conv1), ...this.bnEntries('bn1', this.bn1)];
    for (const blk of this.blocks) {
      out.push(this.convEntry(`${blk.prefix}.conv1.weight`, blk.conv1), ...this.bnEntries(`${blk.prefix}.bn1`, blk.bn1));
      out.push(this.convEntry(`${blk.prefix}.conv2.weight`, blk.conv2), ...this.bnEntries(`${blk.prefix}.bn2`, blk.bn2));
      if (blk.down) {
        out.push(this.convEntry(`${blk.prefix}.downsample.0.weight`, blk.down.conv), ...this.bnEntries(`${blk.prefix}.downsample.1`, blk.down.bn));
      }
    }
    return out;
  }

  private entries(): StateEntry[] {
    const out = this.backboneEntries();
    const { numExperts, slotsPerExpert } = this.blocks[0].routing.config;
    for (const blk of this.blocks) {
      const base = `${blk.prefix}.adapter_controller`;
      for (const [name, v] of blk.routing.params) {
        const ref = routingReferenceName('resnet', this.method, name);
        if (ref === null) continue;
        const shape = routingReferenceShape(name, v.shape, { numExperts, slotsPerExpert });
        const ours = v.shape;
        out.push({
          key: `${base}.${ref}`,
          shape,
          kind: 'float',
          get: () => tf.reshape(v, shape),
          set: (t) => v.assign(tf.reshape(t, ours)),
          variable: v,
          toReference: (t) => tf.reshape(t, shape),
        });
      }
      out.push(...this.bnEntries(`${base}.pre_batch_norm`, blk.preNorm));
    }
    const [f, k] = this.classifierWeight.shape;
    out.push({
      key: 'classification_layer.weight',
      shape: [k, f], // torch Linear: out × in
      kind: 'float',
      get: () => tf.transpose(this.classifierWeight),
      set: (t) => this.classifierWeight.assign(tf.transpose(t)),
      variable: this.classifierWeight,
      toReference: (t) => tf.transpose(t),
    });
    out.push({
      key: 'classification_layer.bias',
      shape: [k],
      kind: 'float',
      get: () => tf.clone(this.classifierBias),
      set: (t) => this.classifierBias.assign(t),
      variable: this.classifierBias,
      toReference: (t) => tf.clone(t),
    });
    return out;
  }

  /** Every float state-dict entry with the variable behind it and its layout change (module order). */
  referenceLayout(): ReferenceLayoutEntry[] {
    return this.entries()
      .filter((e) => e.variable && e.toReference)
      .map((e) => ({ key: e.key, shape: [...e.shape], variable: e.variable!, toReference: e.toReference! }));
  }

  /** The reference state-dict keys with their PyTorch shapes, in module order. */
  stateDictKeys(): { key: string; shape: number[]; dtype: 'float32' | 'int64' }[] {
    return this.entries().map((e) => ({ key: e.key, shape: [...e.shape], dtype: e.kind === 'counter' ? 'int64' : 'float32' }));
  }

  /**
   * The reference model's PyTorch `state_dict()`: same names, PyTorch layouts
   * (OIHW convs, [K,F] classifier, leading router axis M = 1 on routing
   * tensors), `num_batches_tracked` as int32 scalars (int64 in torch; the
   * checkpoint writer stores them as I64). Returns new tensors: dispose them.
   */
  stateDict(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const e of this.entries()) out.set(e.key, e.get());
    return out;
  }

  /**
   * Load a reference state dict (an optional leading `model.` on every key is
   * accepted). Every tensor is validated before anything is assigned: a wrong
   * shape throws naming the key, the expected and the given shape. `strict`
   * (default true) also rejects missing and unexpected keys, listing them.
   */
  loadStateDict(map: Map<string, TensorLike>, opts: { strict?: boolean } = {}): { missing: string[]; unexpected: string[] } {
    return this.loadEntries(this.entries(), map, opts.strict ?? true, 'loadStateDict', new Set());
  }

  /**
   * Load torchvision ResNet18 ImageNet weights (`conv1.weight`, `bn1.*`,
   * `layer1.0.conv1.weight`, …) into the backbone; `fc.*` is ignored. Missing
   * or unexpected backbone keys and wrong shapes throw.
   */
  loadTorchvision(map: Map<string, TensorLike>): void {
    this.loadEntries(this.backboneEntries(), map, true, 'loadTorchvision', new Set(['fc.weight', 'fc.bias']));
  }

  private loadEntries(
    entries: StateEntry[],
    map: Map<string, TensorLike>,
    strict: boolean,
    what: string,
    ignore: Set<string>,
  ): { missing: string[]; unexpected: string[] } {
    if (!(map instanceof Map)) throw new Error(`${what}: expected a Map of name → tensor`);
    const given = new Map<string, { original: string; value: TensorLike }>();
    for (const [k, value] of map) {
      const key = k.startsWith('model.') ? k.slice('model.'.length) : k;
      if (given.has(key)) throw new Error(`${what}: key '${k}' given twice (with and without the 'model.' prefix)`);
      given.set(key, { original: k, value });
    }
    const byKey = new Map(entries.map((e) => [e.key, e]));
    const missing = entries.filter((e) => !given.has(e.key)).map((e) => e.key);
    const unexpected = [...given.keys()].filter((k) => !byKey.has(k) && !ignore.has(k));
    if (strict && (missing.length || unexpected.length)) {
      const list = (xs: string[]) => (xs.length > 12 ? `${xs.slice(0, 12).join(', ')}, … (${xs.length} in all)` : xs.join(', '));
      throw new Error(
        `${what} (strict, method '${this.method}'): ` +
          [missing.length ? `missing keys: ${list(missing)}` : '', unexpected.length ? `unexpected keys: ${list(unexpected)}` : '']
            .filter(Boolean)
            .join('; '),
      );
    }
    // Validate everything first, then assign (no half-loaded model on error).
    const todo: [StateEntry, TensorLike][] = [];
    for (const e of entries) {
      const g = given.get(e.key);
      if (!g) continue;
      const shape = g.value instanceof tf.Tensor ? g.value.shape : g.value?.shape;
      if (!Array.isArray(shape) || shape.join(',') !== e.shape.join(',')) {
        throw new Error(
          `${what}: tensor '${g.original}': expected shape ${shapeStr(e.shape)}${/conv|downsample\.0/.test(e.key) ? ' (PyTorch OIHW)' : ''}, got ${Array.isArray(shape) ? shapeStr(shape) : String(shape)}`,
        );
      }
      todo.push([e, g.value]);
    }
    for (const [e, value] of todo) {
      if (e.kind === 'counter' && e.setCount && !(value instanceof tf.Tensor)) {
        // From a file: the host value itself (no upload, and no read back, which webgpu cannot do synchronously).
        e.setCount(Number(value.data[0]));
        continue;
      }
      tf.tidy(() => e.set(toTensor(value, e.key, e.kind === 'counter' ? 'int32' : 'float32')));
    }
    return { missing, unexpected };
  }

  dispose(): void {
    for (const v of this.variables().values()) v.dispose();
  }
}
