/**
 * Benchmark (not a test): the ResNet18 training step — forward, backward,
 * Adam update, frozen backbone, 345 classes — per routing method at batch
 * 32 × 64×64 and batch 16 × 224×224, with each method's ratio to `dense`
 * (one adapter, "1× compute") measured in the same run, and a per-kernel
 * profile of SMEAR's step. After the TS children, where `/usr/bin/python3`
 * (or `python3`) can import torch, the reference's step in PyTorch
 * (bench/reference/resnet_step.py: smear, dense, ensemble, topk; CPU, one
 * thread, same shapes, warm-up and runs) is timed in the same run and the
 * table gives its s/step and the ratio to it; without torch the column says
 * so. Appends its section to bench/RESULTS.md.
 *
 *   npm run bench:resnet
 *   npm run bench:resnet -- --shapes 64 --methods smear,dense --runs 3
 */
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { parseArgs } from 'util';
import { initBackend, tf, METHODS, Rng } from '../kernel-lib';
import { RoutedResNet } from '../kernel-lib/models/resnet/resnet';
import { Optimizer } from '../kernel-lib/train/optimizer';
import { totalAuxLoss } from '../kernel-lib/routing/aux';
import { median, runChild, timeSteps, writeSection } from './harness';

interface Shape {
  key: string;
  batch: number;
  size: number;
}
const SHAPES: Shape[] = [
  { key: '64', batch: 32, size: 64 },
  { key: '224', batch: 16, size: 224 },
];
/** The PyTorch timing of the reference's step, and the methods it implements. */
const REFERENCE_SCRIPT = path.join(__dirname, 'reference', 'resnet_step.py');
const REFERENCE_METHODS = ['smear', 'dense', 'ensemble', 'topk'];

interface ReferenceRow {
  shape: string;
  method: string;
  median_s?: number;
  times_s?: number[];
  trainable_params?: number;
  error?: string;
}
interface ReferenceRun {
  torch: string;
  device_name: string;
  threads: number;
  /** The command line this bench ran. */
  command: string;
  results: ReferenceRow[];
}

/** The first of /usr/bin/python3, python3 (or only $SMEAR_REFERENCE_PYTHON, when set) that imports torch, or why there is none. */
function findTorchPython(): { python: string } | { missing: string } {
  const tried: string[] = [];
  const candidates = process.env.SMEAR_REFERENCE_PYTHON ? [process.env.SMEAR_REFERENCE_PYTHON] : ['/usr/bin/python3', 'python3'];
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return { python };
    tried.push(`${python}: ${r.error ? 'not found' : 'no torch'}`);
  }
  return { missing: tried.join('; ') };
}

/** Run bench/reference/resnet_step.py (one thread, CPU) for these shapes and methods; its JSON or why not. */
function measureReference(python: string, shapes: Shape[], methods: string[], runs: number, warmup: number): ReferenceRun | { error: string } {
  const rel = path.relative(process.cwd(), REFERENCE_SCRIPT);
  const script = rel.startsWith('..') || path.isAbsolute(rel) ? REFERENCE_SCRIPT : rel;
  const args = [script, '--device', 'cpu', '--threads', '1', '--json', '--shapes', shapes.map((s) => s.key).join(','), '--methods', methods.join(','), '--runs', String(runs), '--warmup', String(warmup)];
  const command = [python, ...args].join(' ');
  const r = spawnSync(python, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  const last = (r.stdout || '').trim().split('\n').pop() ?? '';
  try {
    // Exit 1 with JSON: some (shape, method) failed, its row carries the error.
    if (last.startsWith('{')) return { ...(JSON.parse(last) as ReferenceRun), command };
  } catch {
    /* fall through */
  }
  const why = r.error ? String(r.error.message) : (r.stderr || '').trim().split('\n').pop() || `exit ${r.status}`;
  return { error: `\`${command}\` failed: ${why}` };
}

function buildStep(method: string, shape: Shape) {
  const model = new RoutedResNet({ numClasses: 345, routing: { method, numExperts: method === 'dense' ? 1 : 6, bottleneck: 32 }, seed: 1 });
  const params = model.trainableParams();
  const opt = new Optimizer(params, { kind: 'adam', lr: 1e-3, clipNorm: 1 });
  const r = new Rng(2);
  const { batch: B, size } = shape;
  const x = tf.tensor4d(r.normal(B * size * size * 3), [B, size, size, 3]);
  const y = tf.oneHot(tf.tensor1d(Array.from(r.uniformInt(B, 345)), 'int32'), 345);
  const domains = r.uniformInt(B, 6);
  const hash = r.uniformInt(B * 16, 6);
  const vars = params.map((p) => p.variable);
  const nameOf = new Map(params.map((p) => [p.variable.name, p.name]));
  const step = () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        const out = model.forward(x, { training: true, rng: r, domainIds: domains, hashIds: hash, temperature: 5 });
        return tf.add(tf.losses.softmaxCrossEntropy(y, out.logits), totalAuxLoss(out.aux)) as tf.Scalar;
      }, vars);
      opt.step(new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k) ?? k, g])));
      value.dataSync();
    });
  const dispose = () => {
    opt.dispose();
    model.dispose();
    tf.dispose([x, y]);
  };
  return { step, dispose, params: model.parameterCount('trainable') };
}

/** Child mode: measure one (method, shape) and print JSON. */
async function child(method: string, shapeKey: string, runs: number, warmup: number, profile: boolean) {
  await initBackend({ quiet: true });
  const shape = SHAPES.find((s) => s.key === shapeKey)!;
  const b = buildStep(method, shape);
  const times = timeSteps(b.step, warmup, runs);
  let kernels: [string, number][] = [];
  if (profile) {
    const prof = await tf.profile(() => b.step());
    const agg = new Map<string, number>();
    for (const k of prof.kernels) {
      // A tf.customGrad forward (BatchNorm's) is profiled as one 'unnamed scope' entry and its
      // kernels again on their own: skip it so nothing is counted twice.
      if (k.name === 'unnamed scope') continue;
      const ms = await (k.kernelTimeMs as unknown as Promise<number> | number);
      agg.set(k.name, (agg.get(k.name) ?? 0) + (typeof ms === 'number' ? ms : 0));
    }
    kernels = [...agg].sort((a, c) => c[1] - a[1]);
  }
  b.dispose();
  process.stdout.write(JSON.stringify({ seconds: median(times), params: b.params, kernels }));
}

function measure(method: string, shape: Shape, runs: number, warmup: number, profile = false) {
  return runChild<{ seconds: number; params: number; kernels: [string, number][] }>(__filename, [
    '--child', method, '--shapes', shape.key, '--runs', String(runs), '--warmup', String(warmup), ...(profile ? ['--profile'] : []),
  ]);
}

async function main() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '1' },
      methods: { type: 'string' },
      shapes: { type: 'string' },
      child: { type: 'string' },
      profile: { type: 'boolean' },
      out: { type: 'string', default: path.join(__dirname, 'RESULTS.md') },
    },
  });
  const runs = Number(values.runs);
  const warmup = Number(values.warmup);
  if (values.child) return child(values.child as string, values.shapes as string, runs, warmup, !!values.profile);
  const info = await initBackend();
  const names = values.methods ? (values.methods as string).split(',') : METHODS.map((m) => m.name);
  if (!names.includes('dense')) names.push('dense');
  const shapes = values.shapes ? SHAPES.filter((s) => (values.shapes as string).split(',').includes(s.key)) : SHAPES;
  const load0 = os.loadavg();
  // 1-minute load average before each measurement (another process on these cores shows up here).
  const loads: number[] = [];
  const sampleLoad = () => loads.push(os.loadavg()[0]);
  const measured: { shape: Shape; rows: { method: string; s: number; params: number; error?: string }[] }[] = [];
  for (const shape of shapes) {
    const rows: { method: string; s: number; params: number; error?: string }[] = [];
    for (const m of names) {
      sampleLoad();
      const r = measure(m, shape, runs, warmup);
      if ('error' in r) {
        rows.push({ method: m, s: NaN, params: NaN, error: r.error });
        process.stderr.write(`${shape.key}px ${m.padEnd(10)} failed: ${r.error}\n`);
      } else {
        rows.push({ method: m, s: r.seconds, params: r.params });
        process.stderr.write(`${shape.key}px ${m.padEnd(10)} ${r.seconds.toFixed(3)} s\n`);
      }
    }
    measured.push({ shape, rows });
  }
  // What dominates SMEAR's step at the first shape.
  const profShape = shapes[0];
  const prof = measure('smear', profShape, 1, 1, true);

  // The reference's step in PyTorch, after the TS children, same shapes and methods.
  const refMethods = names.filter((m) => REFERENCE_METHODS.includes(m));
  const found = findTorchPython();
  let ref: ReferenceRun | { error: string } | { missing: string };
  if ('missing' in found) ref = found;
  else if (refMethods.length === 0) ref = { error: 'none of the methods run has a PyTorch reference (smear, dense, ensemble, topk)' };
  else {
    process.stderr.write(`PyTorch reference (${found.python}, 1 thread): ${refMethods.join(', ')}\n`);
    sampleLoad();
    ref = measureReference(found.python, shapes, refMethods, runs, warmup);
  }
  const refRow = (shapeKey: string, method: string): ReferenceRow | undefined =>
    'results' in ref ? ref.results.find((r) => r.shape === shapeKey && r.method === method) : undefined;
  /** What a reference cell says when there is no number. */
  const refMissing = 'missing' in ref ? 'not measured (torch not installed)' : 'error' in ref ? 'not measured (PyTorch run failed, see above)' : 'not measured';
  const load1 = os.loadavg();
  sampleLoad();

  const lines: string[] = [
    '## ResNet18 training step (frozen backbone, 345 classes)',
    '',
    `Median of ${runs} steps after ${warmup} warm-up, each method in a fresh process; forward + backward + Adam; ratios to \`dense\` (1× compute) from the same run.`,
    `Backend ${info.name} (${info.threads} thread${info.threads === 1 ? '' : 's'}), ${os.cpus().length} × ${os.cpus()[0]?.model}, ${new Date().toISOString().slice(0, 10)}; \`npm run bench:resnet\`; load average ${load0.map((l) => l.toFixed(2)).join(' ')} at the start, ${load1.map((l) => l.toFixed(2)).join(' ')} at the end, ` +
      `1-minute load before each measurement ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)} (this benchmark alone keeps it near 1 on ${os.cpus().length} cores; more means another process shared them).`,
  ];
  if ('results' in ref) {
    lines.push(
      `Reference columns: the reference's step (r-three/smear cvl: ResNet18, AdapterController, Router) in PyTorch, \`bench/reference/resnet_step.py\`, ` +
        `torch ${ref.torch} on the CPU (${ref.device_name}), ${ref.threads} thread${ref.threads === 1 ? '' : 's'}, measured in this same run after the TS children ` +
        `(same shapes, ${runs} steps after ${warmup} warm-up, median): \`${ref.command}\`. "× reference" = TS s/step ÷ PyTorch s/step; ` +
        `"reference × dense" = the PyTorch method ÷ PyTorch \`dense\`. The PyTorch script implements ${REFERENCE_METHODS.join(', ')} only (— for the others).`,
    );
  } else if ('missing' in ref) {
    lines.push(`Reference columns: not measured (torch not installed; tried ${ref.missing}), so \`bench/reference/resnet_step.py\` did not run.`);
  } else {
    lines.push(`Reference columns: not measured: ${ref.error}`);
  }
  lines.push('');
  for (const { shape, rows } of measured) {
    const dense = rows.find((r) => r.method === 'dense')!.s;
    const refDense = refRow(shape.key, 'dense')?.median_s;
    lines.push(
      `### batch ${shape.batch} × ${shape.size}×${shape.size}`,
      '',
      '| method | s/step | × dense | reference s/step | reference × dense | × reference | trainable params |',
      '|---|---:|---:|---:|---:|---:|---:|',
    );
    for (const r of rows) {
      if (r.error) {
        lines.push(`| ${r.method} | failed: ${r.error} | | | | | |`);
        continue;
      }
      let refCells = ['—', '—', '—'];
      if (REFERENCE_METHODS.includes(r.method)) {
        const p = refRow(shape.key, r.method);
        if (p?.median_s != null) {
          const paramsNote = p.trainable_params != null && p.trainable_params !== r.params ? ` (PyTorch trains ${p.trainable_params.toLocaleString('en-US')} params)` : '';
          refCells = [`${p.median_s.toFixed(3)}${paramsNote}`, refDense ? (p.median_s / refDense).toFixed(2) : '—', (r.s / p.median_s).toFixed(2)];
        } else {
          refCells = [p?.error ? `not measured (${p.error})` : refMissing, '—', '—'];
        }
      }
      lines.push(`| ${r.method} | ${r.s.toFixed(3)} | ${(r.s / dense).toFixed(2)} | ${refCells.join(' | ')} | ${r.params.toLocaleString('en-US')} |`);
    }
    lines.push('');
  }
  if (!('error' in prof)) {
    const total = prof.kernels.reduce((s, [, v]) => s + v, 0);
    lines.push(`### Kernel profile of one SMEAR step (batch ${profShape.batch} × ${profShape.size}×${profShape.size})`, '', '| kernel | ms | share |', '|---|---:|---:|');
    for (const [k, v] of prof.kernels.slice(0, 12)) lines.push(`| ${k} | ${v.toFixed(1)} | ${((100 * v) / total).toFixed(1)}% |`);
    lines.push('');
  }
  const section = lines.join('\n');
  const out = values.out as string;
  writeSection(out, '## ResNet18 training step', section);
  process.stdout.write(`${section}\nwritten to ${out}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
