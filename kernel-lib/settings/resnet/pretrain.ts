/**
 * The mini profile's pretrained backbone: the role ImageNet pretraining plays
 * in the paper. A narrow ResNet18 is trained end to end on the pooled mini
 * DomainNet training images with every domain's orientation undone (each
 * image gets the inverse of its domain's geometric transform), i.e. on
 * "digits in many styles, upright". It learns digit and style features, but
 * not the domains' conflicting orientations: that adaptation is left to the
 * routing blocks, which is where per-domain experts should beat one shared
 * adapter. The backbone is saved with torchvision's ResNet18 names, so the
 * routed model loads it through the same `loadTorchvision` path as the real
 * ImageNet weights, and cached under data/mini-backbones/.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { RoutedResNet } from '../../models/resnet/resnet';
import { Optimizer } from '../../train/optimizer';
import { Progress } from '../../train/progress';
import { Rng } from '../../util/rng';
import { writeSafetensors, type TensorToWrite } from '../../io/safetensors';
import { ImageBatchLoader } from '../../datasets/image/loader';
import { loadDomainNetSplit } from '../../datasets/domainnet/reader';
import { DOMAIN_TRANSFORMS, MINI_DOMAINS, transformSquare, type DigitTransform } from '../../datasets/mini-domainnet/render';
import { REPO_ROOT, type ResNetRunConfig } from './config';
import { SINGLE_ADAPTER } from '../../routing/registry';


/** Inverse of each geometric transform, applied to an [n,n,3] HWC image. */
const INVERSE: Record<DigitTransform, DigitTransform> = {
  identity: 'identity',
  rot90: 'rot270',
  rot180: 'rot180',
  rot270: 'rot90',
  flipud: 'flipud',
  transpose: 'transpose',
};

/** Apply a square transform to an [n,n,3] HWC image in place (the renderer's transformSquare, per channel). */
export function transformImageHWC(img: Float32Array, n: number, t: DigitTransform): void {
  if (t === 'identity') return;
  const plane = new Float32Array(n * n);
  for (let ch = 0; ch < 3; ch++) {
    for (let i = 0; i < n * n; i++) plane[i] = img[i * 3 + ch];
    const out = transformSquare(plane, n, t);
    for (let i = 0; i < n * n; i++) img[i * 3 + ch] = out[i];
  }
}

/**
 * What the pretraining images are: a short hash of the training split it reads (each
 * image's list path, label and file size, in order), so another data set, or the same
 * one with other images or lists, gets its own backbone; the folder's location does not
 * matter.
 */
export function pretrainDataTag(samples: readonly { relPath: string; label: number; path: string }[]): string {
  const h = crypto.createHash('sha256');
  for (const s of samples) {
    let size = -1;
    try {
      size = fs.statSync(s.path).size;
    } catch {
      /* a missing image is part of what the data is */
    }
    h.update(`${s.relPath}\t${s.label}\t${size}\n`);
  }
  return h.digest('hex').slice(0, 8);
}

export function miniBackbonePath(cfg: ResNetRunConfig, samples = loadDomainNetSplit(cfg.data.root, 'train', { numClasses: cfg.data.numClasses })): string {
  const opts = cfg.model.pretrain;
  const w = cfg.model.widths.join('-');
  return path.join(
    REPO_ROOT,
    'data',
    'mini-backbones',
    `resnet18-${cfg.model.stem}-w${w}-${cfg.data.imageSize}px-s${cfg.train.seed}-${opts.steps}x${opts.batchSize}-lr${opts.lr}-data${pretrainDataTag(samples)}.safetensors`,
  );
}

/** Pretrain (or reuse) the mini backbone; returns the safetensors path. */
export async function ensureMiniBackbone(cfg: ResNetRunConfig, quiet = false): Promise<string> {
  const opts = cfg.model.pretrain;
  for (const k of ['steps', 'batchSize'] as const) {
    if (!(Number.isInteger(opts[k]) && opts[k] >= 1)) throw new Error(`option model.pretrain.${k}: expected an integer >= 1 to pretrain the mini backbone, got ${opts[k]}`);
  }
  const samples = loadDomainNetSplit(cfg.data.root, 'train', { numClasses: cfg.data.numClasses });
  const file = miniBackbonePath(cfg, samples);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const model = new RoutedResNet({
    numClasses: cfg.data.numClasses,
    widths: cfg.model.widths,
    stem: cfg.model.stem,
    routing: { method: SINGLE_ADAPTER.name, numExperts: 1, bottleneck: 1 },
    freezeBackbone: false,
    seed: cfg.train.seed + 1,
  });
  // The backbone and classifier learn; the (near-zero) adapter and BN_pre do not, so the
  // backbone alone carries the function and can be used without them.
  const params = model.trainableParams().filter((p) => !/\.(experts|router|preNorm)\./.test(p.name));
  const optimizer = new Optimizer(params, { kind: 'adam', lr: opts.lr, clipNorm: 1 });
  const loader = new ImageBatchLoader(samples, {
    batchSize: opts.batchSize,
    transform: { kind: 'train', size: cfg.data.imageSize, scale: [0.6, 1], flipProb: 0 },
    shuffle: true,
    seed: cfg.train.seed + 2,
    workers: cfg.data.workers,
    dropLast: true,
  });
  const progress = new Progress(opts.steps, { label: 'pretrain mini backbone', mode: quiet ? 'none' : 'auto' });
  const rng = new Rng(cfg.train.seed + 3);
  const n = cfg.data.imageSize;
  const vars = params.map((p) => p.variable);
  const nameOf = new Map(params.map((p) => [p.variable.name, p.name]));
  let step = 0;
  progress.start(0);
  try {
    for (let epoch = 0; step < opts.steps; epoch++) {
      for await (const b of loader.epoch(epoch)) {
        if (step >= opts.steps) break;
        const count = b.labels.length;
        const pixels = new Float32Array(b.pixels.subarray(0, count * n * n * 3));
        for (let i = 0; i < count; i++) {
          const t = DOMAIN_TRANSFORMS[MINI_DOMAINS[b.domains[i]]];
          transformImageHWC(pixels.subarray(i * n * n * 3, (i + 1) * n * n * 3), n, INVERSE[t]);
        }
        const lossT = tf.tidy(() => {
          const x = tf.tensor4d(pixels, [count, n, n, 3]);
          const y = tf.oneHot(tf.tensor1d(b.labels, 'int32'), cfg.data.numClasses);
          const { value, grads } = tf.variableGrads(() => {
            const logits = model.forward(x, { training: true, rng }).logits;
            return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(logits)), 1))) as tf.Scalar;
          }, vars);
          optimizer.step(new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k) ?? k, g])));
          return value;
        });
        const loss = (await lossT.data())[0]; // one read per step
        lossT.dispose();
        step += 1;
        progress.update(step, loss);
      }
    }
  } finally {
    progress.stop();
    await loader.close();
  }
  const sd = model.stateDict();
  const tensors: Record<string, TensorToWrite> = {};
  for (const [key, t] of sd) {
    if (key.includes('adapter_controller') || key.startsWith('classification_layer')) continue;
    tensors[key] = { dtype: key.endsWith('num_batches_tracked') ? 'I64' : 'F32', shape: t.shape, data: (await t.data()) as Float32Array | Int32Array };
  }
  tf.dispose([...sd.values()]);
  await writeSafetensors(file, tensors, { format: 'pt', 'smear.note': 'mini backbone, torchvision ResNet18 names', 'smear.steps': String(opts.steps) });
  optimizer.dispose();
  model.dispose();
  return file;
}
