/**
 * Benchmark (not a test): one routing block's training step — forward,
 * backward and an Adam update — for every method, at the T5 shape and a
 * ResNet shape, on the active backend. Reports the median over several runs
 * after warm-up and each method's ratio to `dense` (one adapter, "1× compute")
 * measured in the same run, and writes bench/RESULTS.md.
 *
 *   npm run bench                       # all methods, both shapes
 *   SMEAR_BACKEND=cpu npm run bench     # another backend
 *   npm run bench -- --runs 3 --methods smear,dense --shapes t5
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { initBackend, tf, RoutingBlock, METHODS, Rng, totalAuxLoss } from '../kernel-lib';
import type { RoutingContext } from '../kernel-lib';
import { median } from './harness';

interface Shape {
  key: string;
  label: string;
  B: number;
  S: number;
  C: number;
  d: number;
  N: number;
  postLayerNorm: boolean;
}

const SHAPES: Shape[] = [
  { key: 't5', label: 'T5 block (C=768, d=24, N=8, S=128, B=32, post-LayerNorm)', B: 32, S: 128, C: 768, d: 24, N: 8, postLayerNorm: true },
  { key: 'resnet', label: 'ResNet layer3 block (C=256, d=32, N=6, S=196, B=32)', B: 32, S: 196, C: 256, d: 32, N: 6, postLayerNorm: false },
];


async function main() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' },
      methods: { type: 'string' },
      shapes: { type: 'string' },
      out: { type: 'string', default: path.join(__dirname, 'RESULTS.md') },
    },
  });
  const runs = Number(values.runs);
  const warmup = Number(values.warmup);
  const info = await initBackend();
  const methods = values.methods ? METHODS.filter((m) => (values.methods as string).split(',').includes(m.name)) : [...METHODS];
  if (!methods.some((m) => m.name === 'dense')) methods.push(METHODS.find((m) => m.name === 'dense')!);
  const shapes = values.shapes ? SHAPES.filter((s) => (values.shapes as string).split(',').includes(s.key)) : SHAPES;

  const results: { shape: Shape; rows: { method: string; ms: number; min: number; params: number }[] }[] = [];
  for (const shape of shapes) {
    const rows = [];
    const { B, S, C, d, N } = shape;
    const dataRng = new Rng(7);
    const x = tf.tensor3d(dataRng.normal(B * S * C), [B, S, C]);
    const target = tf.tensor3d(dataRng.normal(B * S * C), [B, S, C]);
    const tags = dataRng.uniformInt(B, N);
    const hash = dataRng.uniformInt(B, N);
    // Build every method's block, warm each up, then time them in interleaved rounds
    // (round r times every method once), so drift in the machine's speed and
    // first-use costs (wasm heap growth) do not favour any method.
    const entries = methods.map((m) => {
      const block = new RoutingBlock({
        method: m.name,
        width: C,
        numExperts: m.kind === 'dense' ? 1 : N,
        bottleneck: d,
        postLayerNorm: shape.postLayerNorm,
        init: 1,
      });
      const vars = block.namedParams().filter((p) => p.used).map((p) => p.variable);
      const opt = tf.train.adam(1e-3);
      const ctx: RoutingContext = { training: true, rng: new Rng(3), tags, hash, temperature: 5 };
      const step = () => {
        tf.tidy(() => {
          const { value, grads } = tf.variableGrads(() => {
            const out = block.forward(x, ctx);
            const task = tf.mean(tf.square(tf.sub(out.y, target))) as tf.Scalar;
            return tf.add(task, totalAuxLoss(out.aux)) as tf.Scalar;
          }, vars);
          opt.applyGradients(grads as tf.NamedTensorMap as Parameters<typeof opt.applyGradients>[0]);
          value.dataSync(); // wait for the step
        });
      };
      return { m, block, opt, step, times: [] as number[] };
    });
    for (const e of entries) for (let i = 0; i < warmup; i++) e.step();
    for (let r = 0; r < runs; r++) {
      for (const e of entries) {
        const t0 = process.hrtime.bigint();
        e.step();
        e.times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }
    for (const e of entries) {
      rows.push({ method: e.m.name, ms: median(e.times), min: Math.min(...e.times), params: e.block.trainableParameterCount() });
      process.stderr.write(`${shape.key} ${e.m.name.padEnd(10)} median ${median(e.times).toFixed(1)} ms\n`);
      e.opt.dispose();
      e.block.dispose();
    }
    tf.dispose([x, target]);
    results.push({ shape, rows });
  }

  const date = new Date().toISOString().slice(0, 10);
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const lines: string[] = [
    '# Routing-block benchmark',
    '',
    'One routing block’s training step (forward + backward + Adam update) per method; median of',
    `${runs} rounds after ${warmup} warm-up steps, each round timing every method once (interleaved). Ratios are`,
    'to `dense` (one adapter, “1× compute”) measured in the same run. AdaMix is timed for one pass (its',
    'training runs the model twice per step).',
    '',
    `- date: ${date}`,
    `- machine: ${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.arch()}`,
    `- backend: ${info.name} (${info.package}, ${info.threads} thread${info.threads === 1 ? '' : 's'}${info.name === 'wasm' ? `, SIMD ${info.simd ? 'on' : 'off'}` : ''}), Node ${process.versions.node}, tfjs-core ${tf.version_core}`,
    `- command: \`npm run bench\``,
    '',
  ];
  for (const { shape, rows } of results) {
    const dense = rows.find((r) => r.method === 'dense')!.ms;
    lines.push(`## ${shape.label}`, '', '| method | median ms/step | min ms | × dense | trainable params |', '|---|---:|---:|---:|---:|');
    for (const r of rows) {
      lines.push(`| ${r.method} | ${r.ms.toFixed(1)} | ${r.min.toFixed(1)} | ${(r.ms / dense).toFixed(2)} | ${r.params.toLocaleString('en-US')} |`);
    }
    const smear = rows.find((r) => r.method === 'smear');
    if (smear) lines.push('', `SMEAR / dense = ${(smear.ms / dense).toFixed(2)} (target ≤ 1.2: SMEAR should cost about one expert).`);
    const ens = rows.find((r) => r.method === 'ensemble');
    if (ens) lines.push(`Ensemble / dense = ${(ens.ms / dense).toFixed(2)} (runs all ${shape.N} experts).`);
    lines.push('');
  }
  const text = lines.join('\n');
  // Keep the sections other benchmarks write (ResNet, T5) after this one.
  const prev = fs.existsSync(values.out as string) ? fs.readFileSync(values.out as string, 'utf8') : '';
  const starts = ['## ResNet18 training step', '## T5 training step'].map((m) => prev.indexOf(m)).filter((i) => i >= 0);
  const tail = starts.length ? `\n${prev.slice(Math.min(...starts))}` : '';
  fs.writeFileSync(values.out as string, `${text}${tail}`);
  process.stdout.write(`${text}\nwritten to ${values.out}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
