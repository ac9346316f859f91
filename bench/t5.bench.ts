/**
 * Benchmark (not a test): the T5 training step — forward, backward, AdamW
 * update; frozen backbone, trainable routing blocks + RMSNorm gains, label-
 * smoothed loss + the method's auxiliary losses (REINFORCE's policy/value
 * terms, AdaMix's second pass and consistency loss, as the T5 task does) —
 * per routing method, with each method's ratio to `dense` (one adapter,
 * "1× compute") measured in the same run, for
 *   tiny  the t5-tiny preset (C 64, 2 + 2 layers, V 260), N 8, d 8 (the mini
 *         profile's sizes), batch 16, source 128, target 8;
 *   base  a t5-v1_1-base slice: base widths (C 768, 12 heads × 64, F 2048,
 *         V 32128, untied lm_head) with 2 encoder + 2 decoder layers (10
 *         routing blocks), N 8, d 24, batch 4, source 64, target 8 — the full
 *         12 + 12 model does not train on the 4 GB wasm heap at useful sizes;
 * plus greedy-decoding throughput (RoutedT5.generate, KV cache, eval mode) per
 * method at the tiny configuration (batch 16, source 128, up to 8 tokens).
 * Backbones are randomly initialised (timing only). Each (method,
 * configuration) runs in a fresh child process: the wasm heap never shrinks.
 * dense uses N = 1.
 *
 * Writes (or replaces) the `## T5 training step` section of bench/RESULTS.md,
 * keeping every other section. Note that bench/routing.bench.ts rewrites the
 * file's head (everything before `## ResNet18 training step`) and
 * bench/resnet.bench.ts keeps only what precedes its own section, so the T5
 * section (appended at the end when absent) survives routing.bench but is
 * dropped by a later resnet.bench run: run this one last.
 *
 *   node --import tsx bench/t5.bench.ts
 *   node --import tsx bench/t5.bench.ts --methods smear,dense --runs 1 --configs tiny
 */
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { initBackend, tf, METHODS, Rng } from '../kernel-lib';
import { RoutedT5, type T5Inputs } from '../kernel-lib/models/t5/model';
import { Optimizer } from '../kernel-lib/train/optimizer';
import { totalAuxLoss } from '../kernel-lib/routing/aux';
import { getMethod } from '../kernel-lib/routing/registry';
import { reinforceLosses } from '../kernel-lib/routing/methods/reinforce';
import { adamixConsistency } from '../kernel-lib/routing/methods/adamix';
import { labelSmoothedLoss } from '../kernel-lib/settings/t5/task';
import { median, runChild, timeSteps, writeSection } from './harness';

interface BenchConfig {
  key: string;
  label: string;
  model: { preset: string; numLayers?: number; numDecoderLayers?: number };
  numExperts: number;
  bottleneck: number;
  batch: number;
  source: number;
  target: number;
}

const CONFIGS: BenchConfig[] = [
  { key: 'tiny', label: 't5-tiny (C 64, 2+2 layers, V 260), N 8, d 8', model: { preset: 't5-tiny' }, numExperts: 8, bottleneck: 8, batch: 16, source: 128, target: 8 },
  {
    key: 'base',
    label: 't5-v1_1-base slice (C 768, H 12×64, F 2048, V 32128; 2 encoder + 2 decoder layers), N 8, d 24',
    model: { preset: 't5-v1_1-base', numLayers: 2, numDecoderLayers: 2 },
    numExperts: 8,
    bottleneck: 24,
    batch: 4,
    source: 64,
    target: 8,
  },
];
/** Greedy decoding is measured at the tiny configuration, up to this many tokens. */
const DECODE_TOKENS = 8;
const MARKER = '## T5 training step';


function buildModel(method: string, cfg: BenchConfig): RoutedT5 {
  const dense = getMethod(method).kind === 'dense';
  return new RoutedT5({
    config: cfg.model,
    routing: { method, numExperts: dense ? 1 : cfg.numExperts, bottleneck: cfg.bottleneck, dselectWeight: 0.1 },
    seed: 1,
  });
}

function batchOf(model: RoutedT5, cfg: BenchConfig, seed: number) {
  const r = new Rng(seed);
  const { batch: b, source: s, target: t } = cfg;
  const v = model.config.vocabSize;
  const inputIds = Int32Array.from(r.uniformInt(b * s, v - 2), (x) => x + 2);
  // Some padding at the end of every other example.
  const attentionMask = new Int32Array(b * s).fill(1);
  for (let i = 1; i < b; i += 2) for (let j = Math.floor((3 * s) / 4); j < s; j++) attentionMask[i * s + j] = 0;
  const labels = Int32Array.from(r.uniformInt(b * t, v - 2), (x) => x + 2);
  const decoderInputIds = new Int32Array(b * t);
  for (let i = 0; i < b; i++) for (let j = 1; j < t; j++) decoderInputIds[i * t + j] = labels[i * t + j - 1];
  const inputs: T5Inputs = {
    inputIds,
    attentionMask,
    decoderInputIds,
    batchSize: b,
    taskIds: Int32Array.from(r.uniformInt(b, 8)),
    hashIds: Int32Array.from(r.uniformInt(b * model.numRoutingBlocks, model.routingConfig.numExperts)),
  };
  return { inputs, labels };
}

function buildStep(method: string, cfg: BenchConfig) {
  const model = buildModel(method, cfg);
  const name = getMethod(method).name;
  const params = model.trainableParams();
  const opt = new Optimizer(params, { kind: 'adamw', lr: 3e-4, clipNorm: 1 });
  const { inputs, labels } = batchOf(model, cfg, 2);
  const rng = new Rng(3);
  const ctx = { training: true, rng, temperature: 5 };
  const vars = params.map((p) => p.variable);
  const nameOf = new Map(params.map((p) => [p.variable.name, p.name]));
  const step = () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        const out = model.forward(inputs, ctx);
        const ls = labelSmoothedLoss(out.logits, labels, 0.1);
        let loss = tf.add(ls.loss, totalAuxLoss(out.aux)) as tf.Scalar;
        if (name === 'reinforce') loss = tf.add(loss, totalAuxLoss(reinforceLosses(out.records, ls.perExample))) as tf.Scalar;
        if (name === 'adamix') {
          const out2 = model.forward(inputs, ctx);
          const [b, t, v] = out.logits.shape;
          loss = tf.add(loss, adamixConsistency(tf.reshape(ls.logp, [b * t, v]), tf.reshape(tf.logSoftmax(out2.logits), [b * t, v]), 'mean')) as tf.Scalar;
        }
        return loss;
      }, vars);
      opt.step(new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k) ?? k, g])));
      value.dataSync();
    });
  const dispose = () => {
    opt.dispose();
    model.dispose();
  };
  return { step, dispose, model, params: model.parameterCount('trainable') };
}

interface ChildResult {
  seconds: number;
  params: number;
  /** Greedy decoding (tiny only): examples per second and the number of tokens generated per call. */
  decode?: { examplesPerSecond: number; seconds: number; tokens: number };
}

/** Child mode: measure one (method, configuration) and print JSON. */
async function child(method: string, cfgKey: string, runs: number, warmup: number, decodeRuns: number) {
  await initBackend({ quiet: true });
  const cfg = CONFIGS.find((c) => c.key === cfgKey)!;
  const b = buildStep(method, cfg);
  const times = timeSteps(b.step, warmup, runs);
  const result: ChildResult = { seconds: median(times), params: b.params };
  if (decodeRuns > 0) {
    const { inputs } = batchOf(b.model, cfg, 4);
    const gen = { ...inputs, decoderInputIds: undefined };
    b.model.generate(gen, { maxLength: DECODE_TOKENS }); // warm-up
    const dts: number[] = [];
    let tokens = 0;
    for (let i = 0; i < decodeRuns; i++) {
      const t0 = process.hrtime.bigint();
      const out = await b.model.generate(gen, { maxLength: DECODE_TOKENS });
      dts.push(Number(process.hrtime.bigint() - t0) / 1e9);
      tokens = out.shape[1];
    }
    const s = median(dts);
    result.decode = { examplesPerSecond: cfg.batch / s, seconds: s, tokens };
  }
  b.dispose();
  process.stdout.write(JSON.stringify(result));
}

function measure(method: string, cfg: BenchConfig, runs: number, warmup: number, decodeRuns: number): ChildResult | { error: string } {
  return runChild<ChildResult>(__filename, [
    '--child', method, '--configs', cfg.key, '--runs', String(runs), '--warmup', String(warmup), '--decode-runs', String(decodeRuns),
  ]);
}


async function main() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '1' },
      'decode-runs': { type: 'string', default: '3' },
      methods: { type: 'string' },
      configs: { type: 'string' },
      child: { type: 'string' },
      out: { type: 'string', default: path.join(__dirname, 'RESULTS.md') },
    },
  });
  const runs = Number(values.runs);
  const warmup = Number(values.warmup);
  const decodeRuns = Number(values['decode-runs']);
  if (values.child) return child(values.child as string, values.configs as string, runs, warmup, decodeRuns);
  const info = await initBackend();
  const names = values.methods ? (values.methods as string).split(',').map((m) => getMethod(m).name) : METHODS.map((m) => m.name);
  if (!names.includes('dense')) names.push('dense');
  const configs = values.configs ? CONFIGS.filter((c) => (values.configs as string).split(',').includes(c.key)) : CONFIGS;
  if (configs.length === 0) throw new Error(`--configs: expected some of ${CONFIGS.map((c) => c.key).join(', ')}, got '${values.configs}'`);

  const shownArgs = process.argv
    .slice(2)
    .filter((a, i, all) => a !== '--out' && all[i - 1] !== '--out' && !a.startsWith('--out='))
    .join(' ');
  const lines: string[] = [
    MARKER + ' (frozen backbone; trainable routing + RMSNorm)',
    '',
    `Median of ${runs} step${runs === 1 ? '' : 's'} after ${warmup} warm-up, each (method, configuration) in a fresh process; forward + backward + AdamW`,
    '(label-smoothed loss 0.1 plus the method’s auxiliary losses; AdaMix runs its two passes, REINFORCE its policy/value terms);',
    'randomly initialised backbones; ratios to `dense` (N = 1, same d) from the same run.',
    `Backend ${info.name} (${info.threads} thread${info.threads === 1 ? '' : 's'}${info.name === 'wasm' ? `, SIMD ${info.simd ? 'on' : 'off'}` : ''}), ` +
      `${os.cpus().length} × ${os.cpus()[0]?.model}, Node ${process.versions.node}, ${new Date().toISOString().slice(0, 10)}; ` +
      `\`node --import tsx bench/t5.bench.ts${shownArgs ? ` ${shownArgs}` : ''}\`.`,
    '',
  ];
  for (const cfg of configs) {
    const decode = cfg.key === 'tiny' && decodeRuns > 0;
    const rows: { method: string; r?: ChildResult; error?: string }[] = [];
    for (const m of names) {
      const r = measure(m, cfg, runs, warmup, decode ? decodeRuns : 0);
      if ('error' in r) {
        rows.push({ method: m, error: r.error });
        process.stderr.write(`${cfg.key} ${m.padEnd(10)} failed: ${r.error}\n`);
      } else {
        rows.push({ method: m, r });
        process.stderr.write(`${cfg.key} ${m.padEnd(10)} ${r.seconds.toFixed(3)} s/step${r.decode ? `, decode ${r.decode.examplesPerSecond.toFixed(1)} ex/s` : ''}\n`);
      }
    }
    const dense = rows.find((x) => x.method === 'dense')?.r;
    const ratio = (a: number, b: number | undefined) => (b ? (a / b).toFixed(2) : '—');
    lines.push(
      `### ${cfg.label}; batch ${cfg.batch}, source ${cfg.source}, target ${cfg.target}`,
      '',
      '| method | s/step | × dense | trainable params |',
      '|---|---:|---:|---:|',
    );
    for (const { method, r, error } of rows) {
      if (!r) lines.push(`| ${method} | failed: ${error} | | |`);
      else lines.push(`| ${method} | ${r.seconds.toFixed(3)} | ${ratio(r.seconds, dense?.seconds)} | ${r.params.toLocaleString('en-US')} |`);
    }
    lines.push('');
    if (decode) {
      lines.push(
        `### Greedy decoding (KV cache, eval mode), ${cfg.label}; batch ${cfg.batch}, source ${cfg.source}, up to ${DECODE_TOKENS} tokens`,
        '',
        `Median of ${decodeRuns} \`generate\` call${decodeRuns === 1 ? '' : 's'} after one warm-up; examples/s = batch / seconds per call (stops early once every example has produced EOS: see the tokens column).`,
        '',
        '| method | examples/s | s/batch | tokens | × dense (time) |',
        '|---|---:|---:|---:|---:|',
      );
      for (const { method, r, error } of rows) {
        if (!r?.decode) lines.push(`| ${method} | failed: ${error ?? 'not measured'} | | | |`);
        else lines.push(`| ${method} | ${r.decode.examplesPerSecond.toFixed(1)} | ${r.decode.seconds.toFixed(3)} | ${r.decode.tokens} | ${ratio(r.decode.seconds, dense?.decode?.seconds)} |`);
      }
      lines.push('');
    }
  }
  const section = lines.join('\n');
  const out = values.out as string;
  writeSection(out, MARKER, section);
  process.stdout.write(`${section}\nwritten to ${out}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
