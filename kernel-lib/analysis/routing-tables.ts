/**
 * Markdown tables of routing statistics, for the reproductions' `results.md`: one block's average
 * routing per tag (rows) and expert (columns), shaded, and the first and last block of every run.
 */
import type { RoutingStats } from './routing-stats';

const SHADES = [' ', '░', '▒', '▓', '█'];

/** A Markdown table of one block's average routing per tag (rows) and expert (columns), shaded. */
export function heatTable(stats: RoutingStats, block: number, tagWord: string): string[] {
  const b = stats.blocks.find((x) => x.block === block);
  if (!b) return [];
  const head = `| ${tagWord} | ${Array.from({ length: b.numExperts }, (_, e) => `e${e}`).join(' | ')} |`;
  const sep = `|---|${Array.from({ length: b.numExperts }, () => '---:').join('|')}|`;
  const lines = b.meanByTag
    .map((row, t) => ({ row, t }))
    .filter(({ t }) => b.counts[t] > 0)
    .map(({ row, t }) => `| ${stats.tagNames[t]} | ${row.map((p) => `${SHADES[Math.min(4, Math.floor(p * 5))]} ${p.toFixed(2)}`).join(' | ')} |`);
  return [head, sep, ...lines];
}

/** The first and last routing block's heat table of every run that has routing statistics. */
export function routingSections(rows: { label: string; routing?: RoutingStats }[], tagWord: string): string[] {
  const out: string[] = [];
  for (const r of rows) {
    if (!r.routing || r.routing.blocks.length === 0) continue;
    const blocks = r.routing.blocks.map((b) => b.block);
    for (const block of [blocks[0], blocks[blocks.length - 1]]) {
      const b = r.routing.blocks.find((x) => x.block === block)!;
      out.push(`### ${r.label}, block ${block} (specialisation ${b.specialization.toFixed(2)}, entropy ${b.entropy.toFixed(2)} nats)`, '', ...heatTable(r.routing, block, tagWord), '');
    }
  }
  return out;
}
