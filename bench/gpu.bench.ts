/**
 * GPU benchmark (not a test): the training step of both settings at the
 * paper's sizes on the webgpu backend (Dawn: Vulkan on Linux, Metal on macOS,
 * D3D12 on Windows), per routing method, with each method's ratio to `dense`
 * measured in the same run. Writes its section of bench/RESULTS.md with the
 * adapter and driver.
 *
 *   ResNet18-DomainNet: 224×224, batch 128 (the paper's), frozen backbone, 345 classes, N = 6, d = 32
 *   T5-Base-GLUE:       batch 32, source 128, target 8, N = 8, d = 24; and the largest batch that fits
 *
 * Each step is the Trainer's: the setting's task loss (every method's extra
 * terms), gradients, Adam(W) with clipping, and one packed read of the loss
 * and gradient norm, read while the next step is queued (train/trainer.ts).
 * Models are randomly initialised (timings do not depend on the values) and
 * batches fixed (no data loading). Each (setting, method) runs in a fresh
 * process. Where PyTorch with CUDA is installed, the reference step on the
 * same GPU (bench/reference/resnet_step.py, t5_step.py) is the anchor column.
 *
 *   npm run bench:gpu
 *   npm run bench:gpu -- --settings resnet --methods smear,dense --runs 10
 *   npm run bench:gpu -- --quick --allow-software     # tiny shapes, e.g. on SwiftShader, to check the script
 *
 * On Linux it needs the Vulkan loader (libvulkan.so.1): when `ldconfig -p`
 * finds none it runs `apt-get install -y libvulkan1` as root, else says what
 * to install. NVIDIA's driver ships the Vulkan ICD (nvidia_icd.json); when the
 * loader's search path lacks it (containers mount the driver elsewhere), the
 * script finds it under /usr/local/nvidia, /usr/share/vulkan or /etc/vulkan
 * and sets VK_ICD_FILENAMES for the children.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFileSync, spawnSync } from 'child_process';
import { parseArgs } from 'util';
import { initBackend, tf } from '../kernel-lib/backend';
import { METHODS } from '../kernel-lib/routing';
import { Rng } from '../kernel-lib/util/rng';
import { packForRead, readPacked, type PackedRead } from '../kernel-lib/backend/host-read';
import { webGpuFault } from '../kernel-lib/backend';
import { RoutedResNet } from '../kernel-lib/models/resnet/resnet';
import { RoutedT5 } from '../kernel-lib/models/t5/model';
import { t5Preset } from '../kernel-lib/models/t5/config';
import { ResNetTask } from '../kernel-lib/settings/resnet/task';
import { resolveResNetConfig } from '../kernel-lib/settings/resnet/config';
import type { ResNetBatch } from '../kernel-lib/settings/resnet/data';
import { T5Task } from '../kernel-lib/settings/t5/task';
import { resolveT5RunConfig } from '../kernel-lib/settings/t5/config';
import type { EvalSets, T5Batch } from '../kernel-lib/settings/t5/data';
import type { Tokenizer } from '../kernel-lib/tokenizers/types';
import { Optimizer } from '../kernel-lib/train/optimizer';
import type { TrainerTask } from '../kernel-lib/train/trainer';
import { median, writeSection } from './harness';

type Setting = 'resnet' | 't5';
interface Shape {
  batch: number;
  /** ResNet: image side; T5: source length. */
  size: number;
  /** T5: target length. */
  target?: number;
  /** T5 preset. */
  preset?: string;
  /** ResNet stage widths (quick mode only; default ResNet18's). */
  widths?: number[];
}
const PAPER: Record<Setting, Shape> = {
  resnet: { batch: 128, size: 224 },
  t5: { batch: 32, size: 128, target: 8, preset: 't5-v1_1-base' },
};
const QUICK: Record<Setting, Shape> = {
  resnet: { batch: 2, size: 32, widths: [8, 8, 16, 16] },
  t5: { batch: 2, size: 16, target: 4, preset: 't5-tiny' },
};

interface ChildResult {
  setting: Setting;
  method: string;
  shape: Shape;
  secondsPerStep: number;
  steps: number[];
  examplesPerSecond: number;
  firstStepSeconds: number;
  buildSeconds: number;
  gpuBytes: number;
  gpuBytesAllocated: number;
  trainableParameters: number;
  adapter?: unknown;
}
type Outcome = ChildResult | { error: string };

const BENCH_MARK = '## GPU training step (webgpu)';

// ---------------------------------------------------------------- child: one measurement

function examples(setting: Setting, shape: Shape) {
  const r = new Rng(2);
  const b = shape.batch;
  if (setting === 'resnet') {
    const batch: ResNetBatch = {
      pixels: tf.tensor4d(r.normal(b * shape.size * shape.size * 3), [b, shape.size, shape.size, 3]),
      labels: Int32Array.from(r.uniformInt(b, 345)),
      domains: Int32Array.from(r.uniformInt(b, 6)),
      hash: Int32Array.from(r.uniformInt(b * 16, 6)),
      skipped: 0,
    };
    return { batch, dispose: () => batch.pixels.dispose() };
  }
  const s = shape.size;
  const t = shape.target!;
  const vocab = t5Preset(shape.preset!).vocabSize - 2;
  const labels = Int32Array.from(r.uniformInt(b * t, vocab), (v) => v + 2);
  const dec = new Int32Array(b * t);
  for (let i = 0; i < b; i++) for (let j = 1; j < t; j++) dec[i * t + j] = labels[i * t + j - 1];
  const batch: T5Batch = {
    batchSize: b,
    inputIds: Int32Array.from(r.uniformInt(b * s, vocab), (v) => v + 2),
    attentionMask: new Int32Array(b * s).fill(1),
    srcLen: s,
    labels,
    decoderInputIds: dec,
    tgtLen: t,
    taskIds: Int32Array.from(r.uniformInt(b, 8)),
    hashIds: Int32Array.from(r.uniformInt(b * 64, 8)),
    hashColumns: 64,
  };
  return { batch, dispose: () => undefined };
}

function buildTask(setting: Setting, method: string, shape: Shape): { task: TrainerTask<unknown>; params: number; dispose: () => void } {
  const dense = METHODS.find((m) => m.name === method)?.kind === 'dense';
  if (setting === 'resnet') {
    const n = dense ? 1 : 6;
    const cfg = resolveResNetConfig({ method, profile: 'paper', numExperts: n, data: { root: '(synthetic)' } as never, model: { weights: '(random)' } as never, runDir: '(none)' });
    const model = new RoutedResNet({ numClasses: 345, widths: shape.widths, routing: { method, numExperts: n, bottleneck: cfg.bottleneck }, seed: 1 });
    const task = new ResNetTask(model, cfg, {} as never, ['clipart', 'infograph', 'painting', 'quickdraw', 'real', 'sketch']);
    return { task: task as TrainerTask<unknown>, params: model.parameterCount('trainable'), dispose: () => model.dispose() };
  }
  const n = dense ? 1 : 8;
  const cfg = resolveT5RunConfig({ method, profile: 'paper', numExperts: n, data: { root: '(synthetic)' } as never, model: { path: '(random)' } as never, runDir: '(none)' });
  const model = new RoutedT5({ config: shape.preset!, routing: { method, numExperts: n, bottleneck: cfg.bottleneck } });
  const task = new T5Task(model, cfg, { tasks: [] } as unknown as EvalSets, {} as Tokenizer);
  return { task: task as TrainerTask<unknown>, params: model.parameterCount('trainable'), dispose: () => model.dispose() };
}

async function child(setting: Setting, method: string, shape: Shape, warmup: number, runs: number): Promise<ChildResult> {
  const info = await initBackend({ backend: 'webgpu', quiet: true });
  if (info.adapter?.software && !process.env.SMEAR_BENCH_ALLOW_SOFTWARE) {
    throw new Error(`only a software adapter (${info.adapter.architecture}): pass --allow-software to time it anyway`);
  }
  const t0 = Date.now();
  const { task, params: trainable, dispose } = buildTask(setting, method, shape);
  const data = examples(setting, shape);
  const params = task.params();
  const opt = new Optimizer(params, setting === 'resnet' ? { kind: 'adam', lr: 1e-3, clipNorm: 1 } : { kind: 'adamw', lr: 3e-4, clipNorm: 1 });
  const vars = params.map((p) => p.variable);
  const nameOf = new Map(params.map((p) => [p.variable.name, p.name]));
  const rng = new Rng(3);
  const buildSeconds = (Date.now() - t0) / 1000;
  let step = 0;
  let peak = 0;
  let peakAllocated = 0;
  const queue = (): Promise<Float32Array[]> => {
    const packed = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => task.loss(data.batch, { step, rng }).loss, vars);
      const norm = opt.step(new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k) ?? k, g])));
      return packForRead([value, norm]) as unknown as tf.TensorContainer;
    }) as unknown as PackedRead;
    task.afterStep?.({ step, rng });
    step += 1;
    const m = tf.memory() as unknown as { numBytesInGPU?: number; numBytesAllocatedInGPU?: number };
    peak = Math.max(peak, m.numBytesInGPU ?? 0);
    peakAllocated = Math.max(peakAllocated, m.numBytesAllocatedInGPU ?? 0);
    return readPacked(packed);
  };
  const check = (values: Float32Array[]) => {
    const fault = webGpuFault();
    if (fault) throw new Error(`step ${step}: ${fault}`);
    if (!Number.isFinite(values[0][0])) throw new Error(`step ${step}: loss ${values[0][0]}`);
  };
  const f0 = process.hrtime.bigint();
  check(await queue()); // first step: shader compilation included
  const firstStepSeconds = Number(process.hrtime.bigint() - f0) / 1e9;
  for (let i = 1; i < warmup; i++) check(await queue());
  // Timed: the Trainer's pipelining (read step s while s+1 is queued); per-step wall times.
  const times: number[] = [];
  let pending = queue();
  let last = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) {
    const next = i + 1 < runs ? queue() : undefined;
    check(await pending);
    const now = process.hrtime.bigint();
    times.push(Number(now - last) / 1e9);
    last = now;
    if (next) pending = next;
  }
  const s = median(times);
  opt.dispose();
  data.dispose();
  dispose();
  return {
    setting,
    method,
    shape,
    secondsPerStep: s,
    steps: times,
    examplesPerSecond: shape.batch / s,
    firstStepSeconds,
    buildSeconds,
    gpuBytes: peak,
    gpuBytesAllocated: peakAllocated,
    trainableParameters: trainable,
    adapter: info.adapter,
  };
}

// ---------------------------------------------------------------- parent: environment, plan, report

function sh(cmd: string, args: string[], timeoutS = 120): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: timeoutS * 1000, maxBuffer: 1 << 26 });
  } catch {
    return undefined;
  }
}

/** The Vulkan loader must be installed (Linux); returns a note of what was done. */
function ensureVulkanLoader(): string {
  if (process.platform !== 'linux') return `${process.platform}: Dawn uses ${process.platform === 'darwin' ? 'Metal' : 'D3D12'}`;
  const has = () => /libvulkan\.so\.1/.test(sh('ldconfig', ['-p']) ?? sh('/sbin/ldconfig', ['-p']) ?? '');
  if (has()) return 'Vulkan loader found (ldconfig)';
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (root && sh('apt-get', ['--version'])) {
    process.stderr.write('[bench:gpu] no libvulkan.so.1: apt-get install -y libvulkan1\n');
    spawnSync('apt-get', ['install', '-y', '-qq', 'libvulkan1'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (has()) return 'Vulkan loader installed by this script (apt-get install libvulkan1)';
  }
  throw new Error(
    'bench:gpu: the Vulkan loader (libvulkan.so.1) is not installed: install it (Debian/Ubuntu: `sudo apt-get install libvulkan1`; ' +
      'Fedora: `sudo dnf install vulkan-loader`), then run again',
  );
}

/** Point the loader at NVIDIA's ICD when it is installed outside the loader's search path. */
function findIcd(): string | undefined {
  if (process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES) return process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES;
  const dirs = ['/usr/local/nvidia/share/vulkan/icd.d', '/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
  for (const d of dirs) {
    for (const f of ['nvidia_icd.json', 'nvidia_icd.x86_64.json']) {
      const p = path.join(d, f);
      if (fs.existsSync(p)) {
        process.env.VK_ICD_FILENAMES = p;
        return p;
      }
    }
  }
  return undefined;
}

function runChildProcess(args: string[], timeoutS: number): Outcome {
  // Same entry as this process (tsx or a bundle): execArgv carries `--import tsx` when present.
  const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1], ...args], {
    encoding: 'utf8',
    env: { ...process.env, SMEAR_QUIET: '1' },
    maxBuffer: 1 << 26,
    timeout: timeoutS * 1000,
  });
  if (r.error && /ETIMEDOUT/.test(String(r.error))) return { error: `timed out after ${timeoutS} s` };
  const line = r.stdout.split('\n').find((l) => l.startsWith('{"setting"'));
  if (r.status === 0 && line) return JSON.parse(line) as ChildResult;
  const err = (r.stderr || '').split('\n').filter((l) => /Error|error|fault|lost|memory/.test(l));
  return { error: err.slice(0, 2).join(' | ').slice(0, 400) || `exit ${r.status}` };
}

/** The PyTorch reference step on CUDA (bench/reference/{resnet,t5}_step.py), the same shapes, where torch with CUDA is installed. */
function torchReference(setting: Setting, shape: Shape, methods: string[], runs: number, warmup: number): { perMethod: Record<string, number>; device?: string; torch?: string; error?: string; raw?: unknown } {
  const file = setting === 'resnet' ? 'resnet_step.py' : 't5_step.py';
  // bench/reference/ beside this file, or under the working directory (when run as a bundle).
  const script = [path.join(__dirname, 'reference', file), path.join(process.cwd(), 'bench', 'reference', file)].find((f) => fs.existsSync(f)) ?? '';
  const py = ['/usr/bin/python3', 'python3'].find((p) => sh(p, ['-c', 'import torch; assert torch.cuda.is_available()']) !== undefined);
  if (!py || !fs.existsSync(script)) return { perMethod: {}, error: 'not measured (PyTorch with CUDA not installed)' };
  const known = (sh(py, [script, '--help']) ?? '').match(/from ([a-z0-9,-]+) \(default:/)?.[1]?.split(',') ?? ['smear', 'dense'];
  const usable = methods.filter((m) => known.includes(m));
  const sizes = setting === 'resnet' ? ['--batch', String(shape.batch), '--size', String(shape.size)] : ['--config', 'base', '--batch', String(shape.batch), '--source', String(shape.size), '--target', String(shape.target)];
  const out = sh(py, [script, '--device', 'cuda', ...sizes, '--methods', usable.join(','), '--runs', String(runs), '--warmup', String(warmup), '--json'], 600);
  if (!out) return { perMethod: {}, error: 'the PyTorch reference script failed' };
  const j = JSON.parse(out) as { torch?: string; device_name?: string; cuda?: string; results?: { method: string; median_s?: number; error?: string }[] };
  const perMethod: Record<string, number> = {};
  for (const r of j.results ?? []) if (typeof r.median_s === 'number') perMethod[r.method] = r.median_s;
  return { perMethod, device: `${j.device_name ?? '?'}${j.cuda ? `, CUDA ${j.cuda}` : ''}`, torch: j.torch, raw: j } as ReturnType<typeof torchReference>;
}

function fmtBytes(b: number): string {
  return b > 0 ? `${(b / 2 ** 30).toFixed(2)} GiB` : '—';
}

async function parent(values: Record<string, string | boolean | undefined>): Promise<void> {
  const settings = String(values.settings ?? 'resnet,t5').split(',') as Setting[];
  for (const s of settings) if (s !== 'resnet' && s !== 't5') throw new Error(`option --settings: expected resnet and/or t5, got '${s}'`);
  const quick = values.quick === true;
  const shapes = quick ? QUICK : PAPER;
  const all = METHODS.map((m) => m.name);
  const methods = values.methods ? String(values.methods).split(',') : all;
  for (const m of methods) if (!all.includes(m)) throw new Error(`option --methods: unknown method '${m}'; expected some of ${all.join(', ')}`);
  if (!methods.includes('dense')) methods.push('dense'); // the ratio column
  const runs = Number(values.runs ?? (quick ? 2 : 10));
  const warmup = Number(values.warmup ?? 2);
  const timeout = Number(values['timeout'] ?? 600);
  if (values['allow-software']) process.env.SMEAR_BENCH_ALLOW_SOFTWARE = '1';

  const loader = ensureVulkanLoader();
  const icd = findIcd();
  const gpu = sh('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader']);
  process.stderr.write(`[bench:gpu] ${loader}; ICD ${icd ?? '(loader default)'}; ${gpu ? `nvidia-smi: ${gpu.trim()}` : 'no nvidia-smi'}\n`);
  const jsonOut = values.out ? String(values.out) : undefined;
  const report: Record<string, unknown> = { date: new Date().toISOString(), machine: `${os.cpus().length}× ${os.cpus()[0]?.model ?? '?'}`, loader, icd, nvidiaSmi: gpu?.trim(), results: [] as unknown[] };
  const save = () => jsonOut && fs.writeFileSync(jsonOut, `${JSON.stringify(report, null, 2)}\n`);

  const sections: string[] = [];
  let adapter: Record<string, unknown> | undefined;
  for (const setting of settings) {
    const shape = shapes[setting];
    const rows: { method: string; r: Outcome }[] = [];
    // dense first (the ratio column), then the others in registry order.
    for (const method of ['dense', ...methods.filter((m) => m !== 'dense')]) {
      process.stderr.write(`[bench:gpu] ${setting} ${method} batch ${shape.batch} … `);
      const r = runChildProcess(['--child', setting, '--method', method, '--batch', String(shape.batch), '--size', String(shape.size), '--target', String(shape.target ?? 0), '--preset', shape.preset ?? '', ...(shape.widths ? ['--widths', shape.widths.join(',')] : []), '--runs', String(runs), '--warmup', String(warmup)], timeout);
      process.stderr.write('error' in r ? `failed: ${r.error}\n` : `${r.secondsPerStep.toFixed(4)} s/step, ${fmtBytes(r.gpuBytesAllocated)}\n`);
      if (!('error' in r) && r.adapter) adapter = r.adapter as Record<string, unknown>;
      rows.push({ method, r });
      (report.results as unknown[]).push({ setting, method, ...r });
      save();
    }
    // The largest T5 batch that fits (doubling from the paper's, SMEAR only, 2 steps each).
    let largest: string | undefined;
    if (setting === 't5' && values['max-batch'] !== false && !quick) {
      let ok = shape.batch;
      const limit = Number(values['max-batch-limit'] ?? 1024);
      for (let b = shape.batch * 2; b <= limit; b *= 2) {
        const r = runChildProcess(['--child', 't5', '--method', 'smear', '--batch', String(b), '--size', String(shape.size), '--target', String(shape.target), '--preset', shape.preset!, '--runs', '2', '--warmup', '1'], timeout);
        process.stderr.write(`[bench:gpu] t5 smear batch ${b}: ${'error' in r ? `failed: ${r.error}` : `${r.secondsPerStep.toFixed(4)} s/step`}\n`);
        (report.results as unknown[]).push({ setting: 't5', method: 'smear', probe: 'max-batch', batch: b, ...r });
        save();
        if ('error' in r) break;
        ok = b;
        largest = `SMEAR at batch ${b}: ${r.secondsPerStep.toFixed(4)} s/step (${r.examplesPerSecond.toFixed(1)} examples/s, ${fmtBytes(r.gpuBytesAllocated)})`;
      }
      largest = `largest batch that ran (doubling from ${shape.batch}, up to ${limit}): ${ok}${largest ? `; ${largest}` : ''}`;
    }
    const ref = !quick ? torchReference(setting, shape, methods, runs, warmup) : { perMethod: {} as Record<string, number>, error: 'not measured (--quick)' };
    report[`${setting}Reference`] = ref;
    save();
    const denseR = rows.find((x) => x.method === 'dense')?.r;
    const denseS = denseR && !('error' in denseR) ? denseR.secondsPerStep : undefined;
    const title =
      setting === 'resnet'
        ? `### ResNet18 step, ${shape.size}×${shape.size}, batch ${shape.batch}, frozen backbone, 345 classes`
        : `### T5 step (${shape.preset}), batch ${shape.batch}, source ${shape.size}, target ${shape.target}`;
    const lines = [title, '', '| method | s/step | examples/s | × dense | GPU memory (allocated) | first step (compile) s | trainable params | PyTorch CUDA s/step | × PyTorch |', '|---|---|---|---|---|---|---|---|---|'];
    for (const { method, r } of rows) {
      if ('error' in r) {
        lines.push(`| ${method} | failed: ${r.error.replace(/\|/g, '/')} | | | | | | | |`);
        continue;
      }
      const t = ref.perMethod[method];
      lines.push(
        `| ${method} | ${r.secondsPerStep.toFixed(4)} | ${r.examplesPerSecond.toFixed(1)} | ${denseS ? (r.secondsPerStep / denseS).toFixed(2) : '—'} | ${fmtBytes(r.gpuBytesAllocated)} | ${r.firstStepSeconds.toFixed(1)} | ${r.trainableParameters.toLocaleString('en-US')} | ${t ? t.toFixed(4) : '—'} | ${t ? (r.secondsPerStep / t).toFixed(2) : '—'} |`,
      );
    }
    if (largest) lines.push('', largest);
    if (ref.error) lines.push('', `PyTorch: ${ref.error}.`);
    else lines.push('', `PyTorch: bench/reference/${setting}_step.py --device cuda, torch ${ref.torch ?? '?'}, ${ref.device ?? '?'}, same shapes, same run.`);
    sections.push(lines.join('\n'));
  }
  const a = adapter as { vendor?: string; architecture?: string; description?: string; device?: string; software?: boolean } | undefined;
  const header = [
    BENCH_MARK,
    '',
    `\`npm run bench:gpu${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\`, ${new Date().toISOString().slice(0, 10)}. Backend webgpu (Dawn ${versionOf('webgpu')}, @tensorflow/tfjs-backend-webgpu ${versionOf('@tensorflow/tfjs-backend-webgpu')}), ` +
      `adapter: ${a ? [a.vendor, a.architecture, a.description || a.device].filter(Boolean).join(' / ') + (a.software ? ' (software)' : '') : 'none ran'}; ` +
      `${gpu ? `nvidia-smi: ${gpu.trim()}; ` : ''}host: ${report.machine as string}. Median of ${runs} steps after ${warmup} warm-up step(s), each (setting, method) in a fresh process; ` +
      'GPU memory is tfjs-backend-webgpu\'s allocated buffer bytes at the peak.',
  ].join('\n');
  const section = `${header}\n\n${sections.join('\n\n')}\n`;
  if (values['no-write']) process.stdout.write(section);
  else {
    writeSection(path.join(__dirname, 'RESULTS.md'), BENCH_MARK, section);
    process.stdout.write(section);
  }
  report.section = section;
  save();
}

function versionOf(pkg: string): string {
  // Static requires (kept by a bundler); other packages by name.
  if (pkg === '@tensorflow/tfjs-backend-webgpu') return (require('@tensorflow/tfjs-backend-webgpu') as { version_webgpu: string }).version_webgpu;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return require(`${pkg}/package.json`).version as string;
  } catch {
    return '?';
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      method: { type: 'string' },
      methods: { type: 'string' },
      settings: { type: 'string' },
      batch: { type: 'string' },
      size: { type: 'string' },
      target: { type: 'string' },
      preset: { type: 'string' },
      widths: { type: 'string' },
      runs: { type: 'string' },
      warmup: { type: 'string' },
      timeout: { type: 'string' },
      'max-batch-limit': { type: 'string' },
      out: { type: 'string' },
      quick: { type: 'boolean' },
      'allow-software': { type: 'boolean' },
      'max-batch': { type: 'boolean', default: true },
      'no-max-batch': { type: 'boolean' },
      'no-write': { type: 'boolean' },
    },
  });
  if (values['no-max-batch']) values['max-batch'] = false;
  if (values.child) {
    const shape: Shape = {
      batch: Number(values.batch),
      size: Number(values.size),
      target: Number(values.target) || undefined,
      preset: values.preset || undefined,
      widths: values.widths ? String(values.widths).split(',').map(Number) : undefined,
    };
    const r = await child(values.child as Setting, String(values.method), shape, Number(values.warmup ?? 2), Number(values.runs ?? 10));
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  await parent(values as Record<string, string | boolean | undefined>);
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  },
);
