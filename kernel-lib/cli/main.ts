/**
 * The `smear` command line: one subcommand per file in ./commands, all thin
 * wrappers over the library.
 */
import { parseArgs } from 'util';
import type { Command, CommandArgs } from './command';
import { methodsCommand } from './commands/methods';
import { infoCommand } from './commands/info';
import { dataCommand } from './commands/data';
import { forwardCommand } from './commands/forward';
import { stepCommand } from './commands/step';
import { trainCommand } from './commands/train';
import { reproduceCommand } from './commands/reproduce';
import { analyzeCommand } from './commands/analyze';

export const COMMANDS: Command[] = [methodsCommand, infoCommand, dataCommand, trainCommand, forwardCommand, stepCommand, reproduceCommand, analyzeCommand];

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'smear — SMEAR and baseline routing methods on TensorFlow.js',
    '',
    'usage: smear <command> [options]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `smear <command> --help` for a command’s options.',
  ].join('\n');
}

function commandHelp(c: Command): string {
  const opts = Object.entries(c.options).map(
    ([k, o]) => `  --${k}${o.type === 'string' ? ' <value>' : ''}`.padEnd(28) + o.description,
  );
  return [`usage: ${c.usage}`, '', c.summary, ...(opts.length ? ['', 'options:', ...opts] : [])].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${help()}\n`);
    return name ? 0 : 1;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`smear: unknown command '${name}'\n\n${help()}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${commandHelp(cmd)}\n`);
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: Object.fromEntries(
        Object.entries(cmd.options).map(([k, o]) => {
          const spec: Record<string, unknown> = { type: o.type };
          if (o.short !== undefined) spec.short = o.short;
          if (o.multiple !== undefined) spec.multiple = o.multiple;
          if (o.default !== undefined) spec.default = o.default;
          return [k, spec];
        }),
      ) as unknown as NonNullable<Parameters<typeof parseArgs>[0]>['options'],
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    process.stderr.write(`smear ${name}: ${(e as Error).message}\n\n${commandHelp(cmd)}\n`);
    return 2;
  }
  return cmd.run({ values: parsed.values as CommandArgs['values'], positionals: parsed.positionals });
}
