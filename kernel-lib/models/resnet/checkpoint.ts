/**
 * ResNet checkpoints as safetensors with the reference's PyTorch state-dict
 * names and layouts (see RoutedResNet.stateDict), so a file can be exchanged
 * with the reference code (`torch.save(model.state_dict())` ↔ safetensors).
 *
 * Loading infers the sizes from tensor shapes: stem (conv1 kernel 7 or 3),
 * widths (each stage's conv2), K (classifier), N and d (layer1.0's experts),
 * and the method's own options its tensors imply (`optionsFromReference`:
 * REINFORCE's baseline reduction, the skills' tag count T, Soft MoE's slots
 * per expert P). The routing method cannot be inferred: pass it in
 * `config.routing.method` (otherwise the `smear.method` metadata written by
 * `saveResNetSafetensors` is used, if present).
 */
import * as tf from '@tensorflow/tfjs-core';
import { readSafetensors, writeSafetensors } from '../../io/safetensors';
import type { TensorToWrite } from '../../io/safetensors';
import { getMethod } from '../../routing/registry';
import { routingReferenceName } from '../../routing/reference-names';
import { RoutedResNet } from './resnet';
import type { ResNetConfig, ResNetRoutingConfig } from './resnet';

/** Options for loading; every field overrides what is inferred from the file. */
export type ResNetLoadConfig = Partial<Omit<ResNetConfig, 'routing'>> & { routing?: Partial<ResNetRoutingConfig> };

/** Write the model's reference state dict (float32; num_batches_tracked as int64) with string metadata. */
export async function saveResNetSafetensors(model: RoutedResNet, path: string, metadata: Record<string, string> = {}): Promise<void> {
  const sd = model.stateDict();
  const tensors: Record<string, TensorToWrite> = {};
  try {
    for (const [key, t] of sd) {
      const counter = key.endsWith('num_batches_tracked');
      tensors[key] = { dtype: counter ? 'I64' : 'F32', shape: t.shape, data: (await t.data()) as Float32Array | Int32Array };
    }
  } finally {
    tf.dispose([...sd.values()]);
  }
  const { seed, ...config } = model.config;
  void seed;
  await writeSafetensors(path, tensors, {
    format: 'pt',
    'smear.setting': 'resnet',
    'smear.method': model.method,
    'smear.config': JSON.stringify(config),
    ...metadata,
  });
}

function stripPrefix(key: string): string {
  return key.startsWith('model.') ? key.slice('model.'.length) : key;
}

/**
 * The model configuration implied by a reference state dict's shapes (keys
 * with or without `model.`), merged under `config` (whose fields win).
 */
export function inferResNetConfig(
  shapes: Map<string, { shape: number[] }>,
  config: ResNetLoadConfig = {},
  metadata: Record<string, string> = {},
  source = 'checkpoint',
): ResNetConfig {
  const byKey = new Map<string, number[]>();
  for (const [k, v] of shapes) byKey.set(stripPrefix(k), v.shape);
  const need = (key: string, rank: number, what: string): number[] => {
    const s = byKey.get(key);
    if (!s) throw new Error(`${source}: cannot infer ${what}: missing tensor '${key}'`);
    if (s.length !== rank) throw new Error(`${source}: tensor '${key}': expected rank ${rank}, got shape [${s}]`);
    return s;
  };
  const methodName = config.routing?.method ?? metadata['smear.method'];
  if (!methodName) {
    throw new Error(`${source}: the routing method cannot be inferred from tensor shapes; pass it (--method <name> or config.routing.method)`);
  }
  const method = getMethod(methodName);
  const conv1 = need('conv1.weight', 4, 'the stem');
  const stem = conv1[2] === 7 ? 'imagenet' : conv1[2] === 3 ? 'small' : undefined;
  if (!stem) throw new Error(`${source}: tensor 'conv1.weight' [${conv1}]: expected a 7×7 (imagenet) or 3×3 (small) stem kernel`);
  const widths = [1, 2, 3, 4].map((l) => need(`layer${l}.0.conv2.weight`, 4, `the width of layer${l}`)[0]);
  const cls = need('classification_layer.weight', 2, 'the number of classes');
  const down = need('layer1.0.adapter_controller.multi_adapters.down_samplers_weights', 4, 'N and d');
  const routing: ResNetRoutingConfig = { method: method.name, numExperts: down[1], bottleneck: down[3] };
  // The method's own options that its tensors' shapes imply (e.g. a baseline width, a tag count).
  if (method.optionsFromReference) {
    const prefixes = [1, 2, 3, 4].flatMap((l) => [0, 1].map((b) => `layer${l}.${b}.adapter_controller`));
    Object.assign(
      routing,
      method.optionsFromReference({
        blocks: prefixes.length,
        shape: (k, ours, rank, what) => {
          const ref = routingReferenceName('resnet', method, ours);
          if (ref === null) throw new Error(`${source}: method '${method.name}': its parameter '${ours}' has no reference tensor`);
          return need(`${prefixes[k]}.${ref}`, rank, what);
        },
        fail: (msg) => {
          throw new Error(`${source}: ${msg}`);
        },
      }),
    );
  }
  return {
    ...config,
    widths: config.widths ?? widths,
    stem: config.stem ?? stem,
    numClasses: config.numClasses ?? cls[0],
    routing: { ...routing, ...config.routing, method: method.name },
  };
}

/**
 * Build a RoutedResNet from a checkpoint written by `saveResNetSafetensors`
 * or converted from the reference (`model.` prefixes accepted); strict load.
 */
export async function loadResNetSafetensors(path: string, config: ResNetLoadConfig = {}): Promise<RoutedResNet> {
  const { tensors, metadata } = await readSafetensors(path);
  const model = new RoutedResNet(inferResNetConfig(tensors, config, metadata, path));
  try {
    model.loadStateDict(tensors, { strict: true });
  } catch (e) {
    model.dispose();
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  return model;
}
