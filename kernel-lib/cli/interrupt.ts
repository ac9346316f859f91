/** Ctrl-C stops a run cooperatively (checkpoint written); a second Ctrl-C exits at once. */
export function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  let count = 0;
  process.on('SIGINT', () => {
    count += 1;
    if (count === 1) {
      process.stderr.write('\n[smear] stopping after the current step (checkpoint will be written; Ctrl-C again to exit now)\n');
      controller.abort();
    } else {
      process.exit(130);
    }
  });
  return controller.signal;
}
