/**
 * `smear data check`: is a dataset complete and readable, before training?
 *   --setting resnet --data <DomainNet root> [--domains …] [--decode] [--json]
 *   --setting t5     --data <GLUE folder>    [--tasks …] [--json]
 * Exit 0 when no problem is found, 1 when some are (each named), 2 for bad usage.
 */
import { checkDomainNet, formatCheckReport } from '../../datasets/domainnet/check';
import { checkGlue, formatGlueCheckReport } from '../../datasets/glue/check';
import type { Command } from '../command';

const USAGE = [
  'smear data check --setting resnet --data <DomainNet root> [--json] [--decode] [--domains clipart,real]',
  '       smear data check --setting t5 --data <GLUE folder: TSV or HF parquet> [--json] [--tasks rte,stsb]',
].join('\n');

function fail(message: string): number {
  process.stderr.write(`smear data: ${message}\nusage: ${USAGE}\n`);
  return 2;
}

const list = (v: unknown) => (typeof v === 'string' ? v.split(',').map((d) => d.trim()).filter(Boolean) : undefined);

export const dataCommand: Command = {
  name: 'data',
  summary: 'check a dataset folder (DomainNet: lists, folds, images; GLUE: task files, rows, labels) before training',
  usage: USAGE,
  options: {
    setting: { type: 'string', description: "'resnet' (DomainNet) or 't5' (GLUE)" },
    data: { type: 'string', description: 'dataset root (DomainNet: the folder holding <domain>/ and <domain>_train.txt; GLUE: the folder holding RTE/, SST-2/, … or rte/, sst2/, … parquet exports)' },
    domains: { type: 'string', description: 'resnet: comma-separated subset of clipart,infograph,painting,quickdraw,real,sketch' },
    tasks: { type: 'string', description: 't5: comma-separated subset of rte,sst2,mrpc,stsb,qqp,mnli,qnli,cola' },
    decode: { type: 'boolean', description: 'resnet: fully decode every image (default: read image headers and end markers only)' },
    json: { type: 'boolean', description: 'print the report as JSON' },
  },
  async run({ values, positionals }) {
    const [sub, ...extra] = positionals;
    if (sub !== 'check') return fail(sub === undefined ? 'missing subcommand; expected `check`' : `unknown subcommand '${sub}'; expected \`check\``);
    if (extra.length) return fail(`unexpected argument${extra.length > 1 ? 's' : ''} ${extra.map((e) => `'${e}'`).join(' ')}`);
    const setting = values.setting;
    if (setting === undefined) return fail("option --setting is required: 'resnet' (DomainNet) or 't5' (GLUE)");
    if (setting !== 'resnet' && setting !== 't5') return fail(`option --setting must be 'resnet' (DomainNet) or 't5' (GLUE); got '${String(setting)}'`);
    const root = values.data;
    if (typeof root !== 'string' || root === '') return fail(`option --data <${setting === 'resnet' ? 'DomainNet root' : 'GLUE folder'}> is required`);
    if (setting === 't5') {
      for (const o of ['domains', 'decode'] as const) if (values[o] !== undefined) return fail(`option --${o} applies to --setting resnet (DomainNet) only`);
      let report;
      try {
        report = await checkGlue(root, { tasks: list(values.tasks) });
      } catch (e) {
        return fail((e as Error).message);
      }
      process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatGlueCheckReport(report)}\n`);
      return report.ok ? 0 : 1;
    }
    if (values.tasks !== undefined) return fail('option --tasks applies to --setting t5 (GLUE) only');

    let report;
    let progressShown = false;
    try {
      report = await checkDomainNet(root, {
        decode: values.decode === true,
        domains: list(values.domains),
        onProgress: values.json
          ? undefined
          : (done, total) => {
              progressShown = true;
              process.stderr.write(`\rchecked ${done}/${total} images`);
            },
      });
    } catch (e) {
      return fail((e as Error).message);
    }
    if (progressShown) process.stderr.write('\n');
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatCheckReport(report)}\n`);
    return report.ok ? 0 : 1;
  },
};
