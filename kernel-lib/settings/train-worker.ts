/**
 * Child process of `trainInWorkers` (workers.ts): trains one run per message
 * (ResNet-DomainNet or T5-GLUE) and reports how it ended.
 *
 * Parent → child: { type: 'train', setting, overrides, resume } then optionally
 * { type: 'abort' } (stop after the current step, checkpoint written).
 * Child → parent: { type: 'done', status } or { type: 'error', message }.
 * A terminal's Ctrl-C reaches the child directly (same process group): the
 * first stops the run cooperatively, a second exits at once, as in the CLI.
 */
import type { WorkerReply, WorkerRequest } from './workers';

const controller = new AbortController();
let interrupts = 0;
process.on('SIGINT', () => {
  interrupts += 1;
  if (interrupts === 1) controller.abort();
  else process.exit(130);
});

const send = (m: WorkerReply) => new Promise<void>((resolve) => process.send!(m, () => resolve()));

async function train(m: Extract<WorkerRequest, { type: 'train' }>): Promise<string> {
  const opts = { resume: m.resume, fresh: m.fresh, signal: controller.signal, progress: { mode: 'none' as const } };
  // Loaded on demand (require: this file runs as CommonJS through tsx): a worker pulls in only its own setting.
  if (m.setting === 'resnet') {
    const { trainResNet } = require('./resnet/run') as typeof import('./resnet/run');
    return (await trainResNet(m.overrides, opts)).result.status;
  }
  const { trainT5 } = require('./t5/run') as typeof import('./t5/run');
  return (await trainT5(m.overrides, opts)).result.status;
}

process.on('message', (m: WorkerRequest) => {
  if (m.type === 'abort') {
    controller.abort();
    return;
  }
  train(m)
    .then((status) => send({ type: 'done', status }))
    .catch((e: Error) => send({ type: 'error', message: e?.message ?? String(e), stack: e?.stack }))
    .finally(() => process.disconnect());
});
