/** `smear data check --setting resnet --data <root> [--json] [--decode]`: is a dataset complete and readable? */
import { checkDomainNet, formatCheckReport } from '../../datasets/domainnet/check';
import type { Command } from '../command';

const USAGE = 'smear data check --setting resnet --data <DomainNet root> [--json] [--decode] [--domains clipart,real]';

function fail(message: string): number {
  process.stderr.write(`smear data: ${message}\nusage: ${USAGE}\n`);
  return 2;
}

export const dataCommand: Command = {
  name: 'data',
  summary: 'check a dataset folder (DomainNet: lists, folds, images) before training',
  usage: USAGE,
  options: {
    setting: { type: 'string', description: "'resnet' (DomainNet); the GLUE data check is not there yet" },
    data: { type: 'string', description: 'dataset root (DomainNet: the folder holding <domain>/ and <domain>_train.txt)' },
    domains: { type: 'string', description: 'comma-separated subset of clipart,infograph,painting,quickdraw,real,sketch' },
    decode: { type: 'boolean', description: 'fully decode every image (default: read image headers only)' },
    json: { type: 'boolean', description: 'print the report as JSON' },
  },
  async run({ values, positionals }) {
    const [sub, ...extra] = positionals;
    if (sub !== 'check') return fail(sub === undefined ? 'missing subcommand; expected `check`' : `unknown subcommand '${sub}'; expected \`check\``);
    if (extra.length) return fail(`unexpected argument${extra.length > 1 ? 's' : ''} ${extra.map((e) => `'${e}'`).join(' ')}`);
    const setting = values.setting;
    if (setting === undefined) return fail("option --setting is required: 'resnet' (DomainNet)");
    if (setting === 't5') return fail("--setting t5: there is no GLUE data check yet; only --setting resnet (DomainNet) is checked");
    if (setting !== 'resnet') return fail(`option --setting must be 'resnet' (DomainNet); got '${String(setting)}'`);
    const root = values.data;
    if (typeof root !== 'string' || root === '') return fail('option --data <DomainNet root> is required');
    const domains = typeof values.domains === 'string' ? values.domains.split(',').map((d) => d.trim()).filter(Boolean) : undefined;

    let report;
    let progressShown = false;
    try {
      report = await checkDomainNet(root, {
        decode: values.decode === true,
        domains,
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
