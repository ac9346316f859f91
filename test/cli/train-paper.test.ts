/**
 * The paper ResNet-DomainNet command starts training on real-format inputs:
 * a DomainNet folder (domain/class/file.png + <domain>_train.txt/_test.txt)
 * and torchvision-named ResNet18 weights in safetensors, both generated here.
 * (Steps, batch and image size are cut down so it finishes in seconds.)
 */
import { foldCacheDir } from '../../kernel-lib/datasets/domainnet/fold-cache';
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { initBackend, tf } from '../../kernel-lib';
import { RoutedResNet } from '../../kernel-lib/models/resnet/resnet';
import { writeSafetensors, type TensorToWrite } from '../../kernel-lib/io/safetensors';
import { DOMAINS } from '../../kernel-lib/datasets/domainnet/layout';

const root = path.resolve(__dirname, '..', '..');
let dir = '';

before(async () => {
  await initBackend({ backend: 'cpu', quiet: true });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'paper-cli-'));
  const data = path.join(dir, 'DomainNet');
  for (const domain of DOMAINS) {
    const lines: Record<'train' | 'test', string[]> = { train: [], test: [] };
    for (let i = 0; i < 8; i++) {
      const label = (i * 37) % 345;
      const rel = `${domain}/class_${label}/${domain}_${i}.png`;
      fs.mkdirSync(path.join(data, path.dirname(rel)), { recursive: true });
      const pixels = Buffer.alloc(40 * 48 * 3, (i * 29 + domain.length * 11) % 256);
      await sharp(pixels, { raw: { width: 48, height: 40, channels: 3 } }).png().toFile(path.join(data, rel));
      lines[i < 6 ? 'train' : 'test'].push(`${rel} ${label}`);
    }
    fs.writeFileSync(path.join(data, `${domain}_train.txt`), `${lines.train.join('\n')}\n`);
    fs.writeFileSync(path.join(data, `${domain}_test.txt`), `${lines.test.join('\n')}\n`);
  }
  // torchvision ResNet18 names and layouts (random values), as the README's conversion writes them.
  const model = new RoutedResNet({ numClasses: 1000, routing: { method: 'dense', numExperts: 1, bottleneck: 1 } });
  const tensors: Record<string, TensorToWrite> = {};
  for (const [key, t] of model.stateDict()) {
    if (key.includes('adapter_controller') || key.startsWith('classification_layer')) continue;
    tensors[key] = { dtype: key.endsWith('num_batches_tracked') ? 'I64' : 'F32', shape: t.shape, data: t.dataSync() as Float32Array | Int32Array };
  }
  tensors['fc.weight'] = { dtype: 'F32', shape: [1000, 512], data: new Float32Array(512000) };
  tensors['fc.bias'] = { dtype: 'F32', shape: [1000], data: new Float32Array(1000) };
  await writeSafetensors(path.join(dir, 'resnet18.safetensors'), tensors);
  model.dispose();
  tf.disposeVariables();
});

test('smear train --profile paper starts training on DomainNet-format data with torchvision weights', () => {
  const runDir = path.join(dir, 'run');
  const r = spawnSync(
    process.execPath,
    [
      path.join(root, 'kernel-lib', 'cli', 'bin.js'),
      'train', '--setting', 'resnet', '--profile', 'paper', '--method', 'smear',
      '--data', path.join(dir, 'DomainNet'), '--weights', path.join(dir, 'resnet18.safetensors'),
      '--steps', '2', '--batch-size', '4', '--eval-every', '2', '--image-size', '32', '--workers', '1', '--run-dir', runDir,
    ],
    { cwd: root, encoding: 'utf8', env: { ...process.env, SMEAR_QUIET: '1' } },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /smear \(SMEAR\): test accuracy \d+\.\d+%/);
  const config = JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8'));
  assert.equal(config.profile, 'paper');
  assert.deepEqual(config.model.widths, [64, 128, 256, 512]);
  assert.equal(config.data.numClasses, 345);
  assert.equal(config.numExperts, 6);
  assert.equal(config.bottleneck, 32);
  assert.equal(config.train.lr, 1e-3);
  assert.deepEqual(config.splits, { train: 30, valid: 6, test: 12 }, 'folds: 20% of each domain’s 6 training images');
  // Issue 12: the folds are made in the fold cache, not next to the lists (was: written next to the lists, as the reference does).
  for (const d of DOMAINS) {
    assert.ok(!fs.existsSync(path.join(dir, 'DomainNet', `${d}_valid_fold.txt`)), 'the dataset folder is not written');
    assert.ok(fs.existsSync(path.join(foldCacheDir(path.join(dir, 'DomainNet')).dir, `${d}_valid_fold.txt`)));
  }
  const results = JSON.parse(fs.readFileSync(path.join(runDir, 'results.json'), 'utf8'));
  assert.equal(results.test.examples, 12);
});

test('the paper profile without data or weights says what is missing', () => {
  const r = spawnSync(process.execPath, [path.join(root, 'kernel-lib', 'cli', 'bin.js'), 'train', '--setting', 'resnet', '--profile', 'paper', '--method', 'smear'], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /option data: the paper profile needs the DomainNet root \(--data <folder>\)/);
});
