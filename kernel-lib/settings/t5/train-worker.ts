/**
 * Child process of `reproduceT5({ workers: n > 1 })`: trains one T5 run per
 * message and reports how it ended. The wasm backend computes on one thread,
 * so on a machine with several cores the reproduction trains several methods
 * at once, one per process (each with its own backend).
 *
 * Parent → child: { type: 'train', overrides, resume } then optionally
 * { type: 'abort' } (stop after the current step, checkpoint written).
 * Child → parent: { type: 'done', status } or { type: 'error', message }.
 * A terminal's Ctrl-C reaches the child directly (same process group): the
 * first stops the run cooperatively, a second exits at once, as in the CLI.
 */
import { trainT5 } from './run';
import type { T5RunOverrides } from './config';

type Message = { type: 'train'; overrides: T5RunOverrides & { method: string }; resume: boolean } | { type: 'abort' };

const controller = new AbortController();
let interrupts = 0;
process.on('SIGINT', () => {
  interrupts += 1;
  if (interrupts === 1) controller.abort();
  else process.exit(130);
});

const send = (m: Record<string, unknown>) => new Promise<void>((resolve) => process.send!(m, () => resolve()));

process.on('message', (m: Message) => {
  if (m.type === 'abort') {
    controller.abort();
    return;
  }
  trainT5(m.overrides, { resume: m.resume, signal: controller.signal, progress: { mode: 'none' } })
    .then((r) => send({ type: 'done', status: r.result.status }))
    .catch((e: Error) => send({ type: 'error', message: e?.message ?? String(e), stack: e?.stack }))
    .finally(() => process.disconnect());
});
