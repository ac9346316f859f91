/** `smear methods [--json]`: every routing method, its reference name, kind, losses and configurations. */
import { METHODS } from '../../routing/registry';
import { formatTable } from '../../util/table';
import type { Command } from '../command';

export interface MethodListing {
  name: string;
  referenceName: string;
  title: string;
  kind: string;
  usesRouter: boolean;
  needs: string[];
  auxLosses: { name: string; scope: string; description: string }[];
  defaultExpertDropout: number;
  configurations: { label: string; description: string; t5: { numExperts: number; bottleneck: number }; resnet: { numExperts: number; bottleneck: number } }[];
  description: string;
}

/** The settings' default sizes (kernel-lib/docs/reference-code.md#sizes). */
export const SETTING_SIZES = { t5: { numExperts: 8, bottleneck: 24 }, resnet: { numExperts: 6, bottleneck: 32 } };

export function listMethods(): MethodListing[] {
  return METHODS.map((m) => ({
    name: m.name,
    referenceName: m.referenceName,
    title: m.title,
    kind: m.kind,
    usesRouter: m.usesRouter,
    needs: [...(m.needsTags ? ['tags'] : []), ...(m.needsHash ? ['hash ids'] : [])],
    auxLosses: m.auxLosses.map((a) => ({ ...a })),
    defaultExpertDropout: m.defaultExpertDropout,
    configurations: m.configurations.map((c) => ({
      label: c.label,
      description: c.description,
      t5: c.resolve(SETTING_SIZES.t5),
      resnet: c.resolve(SETTING_SIZES.resnet),
    })),
    description: m.description,
  }));
}

export const methodsCommand: Command = {
  name: 'methods',
  summary: 'list every routing method (reference names, kinds, losses, configurations)',
  usage: 'smear methods [--json]',
  options: { json: { type: 'boolean', description: 'print JSON for machines' } },
  async run({ values }) {
    const list = listMethods();
    if (values.json) {
      process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      return 0;
    }
    const rows: string[][] = [];
    for (const m of list) {
      m.configurations.forEach((c, i) => {
        rows.push([
          i === 0 ? m.name : '',
          i === 0 ? m.referenceName : '',
          i === 0 ? m.kind : '',
          c.label,
          `N=${c.t5.numExperts} d=${c.t5.bottleneck}`,
          `N=${c.resnet.numExperts} d=${c.resnet.bottleneck}`,
          i === 0 ? (m.auxLosses.map((a) => a.name).join(', ') || '—') : '',
        ]);
      });
    }
    process.stdout.write(
      `${formatTable(['method', 'reference name', 'kind', 'configuration', 'T5-GLUE', 'ResNet-DomainNet', 'extra losses'], rows)}\n`,
    );
    process.stdout.write(`\n${list.length} methods. Use the friendly or the reference name with --method.\n`);
    return 0;
  },
};
