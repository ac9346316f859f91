/**
 * Benchmark (not a test): the ResNet18 training step — forward, backward,
 * Adam update, frozen backbone, 345 classes — per routing method at batch
 * 32 × 64×64 and batch 16 × 224×224, with each method's ratio to `dense`
 * (one adapter, "1× compute") measured in the same run, and a per-kernel
 * profile of SMEAR's step. Appends its section to bench/RESULTS.md.
 *
 *   npm run bench:resnet
 *   npm run bench:resnet -- --shapes 64 --methods smear,dense --runs 3
 */
import * as os from 'os';
import * as path from 'path';
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
/** The reference PyTorch code (torch 1.13 CPU, oneDNN, one thread), measured on this machine class (issue 3). */
const REFERENCE_SECONDS: Record<string, Record<string, number>> = {
  '64': { smear: 0.36, dense: 0.31, topk: 0.41, ensemble: 0.64 },
  '224': { smear: 1.6, dense: 1.5, topk: 1.65, ensemble: 4.2 },
};


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
  const lines: string[] = [
    '## ResNet18 training step (frozen backbone, 345 classes)',
    '',
    `Median of ${runs} steps after ${warmup} warm-up, each method in a fresh process; forward + backward + Adam; ratios to \`dense\` (1× compute) from the same run.`,
    `Backend ${info.name} (${info.threads} thread${info.threads === 1 ? '' : 's'}), ${os.cpus().length} × ${os.cpus()[0]?.model}, ${new Date().toISOString().slice(0, 10)}; \`npm run bench:resnet\`.`,
    'Reference column: the reference PyTorch code (torch 1.13 CPU with oneDNN, one thread) on this machine class, as given in the issue.',
    '',
  ];
  for (const shape of shapes) {
    const rows: { method: string; s: number; params: number; error?: string }[] = [];
    for (const m of names) {
      const r = measure(m, shape, runs, warmup);
      if ('error' in r) {
        rows.push({ method: m, s: NaN, params: NaN, error: r.error });
        process.stderr.write(`${shape.key}px ${m.padEnd(10)} failed: ${r.error}\n`);
      } else {
        rows.push({ method: m, s: r.seconds, params: r.params });
        process.stderr.write(`${shape.key}px ${m.padEnd(10)} ${r.seconds.toFixed(3)} s\n`);
      }
    }
    const dense = rows.find((r) => r.method === 'dense')!.s;
    lines.push(`### batch ${shape.batch} × ${shape.size}×${shape.size}`, '', '| method | s/step | × dense | reference s/step | × reference | trainable params |', '|---|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      if (r.error) {
        lines.push(`| ${r.method} | failed: ${r.error} | | | | |`);
        continue;
      }
      const ref = REFERENCE_SECONDS[shape.key][r.method];
      lines.push(`| ${r.method} | ${r.s.toFixed(3)} | ${(r.s / dense).toFixed(2)} | ${ref ?? '—'} | ${ref ? (r.s / ref).toFixed(2) : '—'} | ${r.params.toLocaleString('en-US')} |`);
    }
    lines.push('');
  }
  // What dominates SMEAR's step at the first shape.
  const shape = shapes[0];
  const prof = measure('smear', shape, 1, 1, true);
  if (!('error' in prof)) {
    const total = prof.kernels.reduce((s, [, v]) => s + v, 0);
    lines.push(`### Kernel profile of one SMEAR step (batch ${shape.batch} × ${shape.size}×${shape.size})`, '', '| kernel | ms | share |', '|---|---:|---:|');
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
