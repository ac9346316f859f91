/**
 * Diagnostic (not a test, not a benchmark): where the mini ResNet DSelect-k run's
 * training-loss spikes come from (kernel-lib/settings/resnet/README.md, "DSelect-k's
 * training loss"). Trains the mini profile's DSelect-k run (the defaults, every step
 * logged) and records, for every training step and routing block, the block's
 * regulariser, the smallest Σ_e q_e in the batch and how many examples have Σ_e q_e = 0
 * (a selector on a code past N−1). For each step with such an example it writes that
 * step's gate inputs (x̂ = LN_in(v) [B,C], Z [C,m]), q and regulariser per block, which
 * bench/reference/dselect_k_penalty.py recomputes independently in float64.
 *
 *   node --import tsx bench/dselect-k-penalty.ts /tmp/dsk-gates
 *   python3 bench/reference/dselect_k_penalty.py /tmp/dsk-gates
 *
 * Steps are numbered as metrics.jsonl numbers them (the n-th step is step n). The
 * capture wraps the method's `mix` and reads tensors back after every step: a tool for
 * this question only, slower than a plain run.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { dselectK } from '../kernel-lib/routing/methods/dselect-k';
import { ResNetTask } from '../kernel-lib/settings/resnet/task';
import { trainResNet } from '../kernel-lib/settings/resnet/run';
import type { StepContext } from '../kernel-lib/train/trainer';

const out = path.resolve(process.argv[2] ?? 'dsk-gates');
fs.mkdirSync(out, { recursive: true });
const summary = fs.createWriteStream(path.join(out, 'blocks.jsonl'));

interface Captured {
  xhat: tf.Tensor;
  z: tf.Tensor;
  q: tf.Tensor;
  reg: tf.Tensor;
}
let captured: Captured[] = [];

const mix = dselectK.mix.bind(dselectK);
dselectK.mix = (x, routerInput, ctx, parts) => {
  const r = mix(x, routerInput, ctx, parts);
  if (ctx.training) {
    captured.push({
      xhat: tf.keep(parts.router.normalizeInput(routerInput())),
      z: tf.keep(tf.clone(parts.own['dselect.z'])),
      q: tf.keep(tf.clone(r.record.probs!)),
      reg: tf.keep(tf.clone(r.aux[0].value)),
    });
  }
  return r;
};

(ResNetTask.prototype as unknown as { afterStep(ctx: StepContext): void }).afterStep = (ctx: StepContext) => {
  const step = ctx.step + 1;
  const blocks = captured.map((c, block) => {
    const sums = (c.q.arraySync() as number[][]).map((row) => row.reduce((a, v) => a + v, 0));
    return { block, reg: c.reg.dataSync()[0], minSumQ: Math.min(...sums), zeroRows: sums.filter((s) => s === 0).length };
  });
  summary.write(`${JSON.stringify({ step, blocks })}\n`);
  if (blocks.some((b) => b.zeroRows > 0)) {
    const dump = captured.map((c, block) => ({ block, xhat: c.xhat.arraySync(), z: c.z.arraySync(), q: c.q.arraySync(), reg: c.reg.dataSync()[0] }));
    fs.writeFileSync(path.join(out, `gates-step${step}.json`), JSON.stringify(dump));
  }
  for (const c of captured) tf.dispose([c.xhat, c.z, c.q, c.reg]);
  captured = [];
};

trainResNet({ method: 'dselect-k', runDir: path.join(out, 'run'), train: { logEvery: 1 } }, { fresh: true, progress: { mode: 'lines', lineInterval: 30 } })
  .then(() => {
    summary.end();
    const rows = fs.readFileSync(path.join(out, 'blocks.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; blocks: { block: number; reg: number; zeroRows: number }[] });
    const hits = rows.filter((r) => r.blocks.some((b) => b.zeroRows > 0));
    process.stdout.write(`${rows.length} steps; ${hits.length} with an example whose q sums to 0:\n`);
    for (const r of hits) {
      const b = r.blocks.filter((x) => x.zeroRows > 0).map((x) => `block ${x.block}: ${x.zeroRows} example(s), regulariser ${x.reg.toFixed(2)}`);
      process.stdout.write(`  step ${r.step}: ${b.join('; ')}\n`);
    }
  })
  .catch((e) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
