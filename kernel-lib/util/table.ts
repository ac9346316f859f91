/** Plain-text tables for the terminal (no dependency for twenty lines); used by the CLI and the data checks. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** A titled list for a report, at most `max` items shown ("… and N more (use --json for all)"); empty when there are none. */
export function cappedList<T>(title: string, items: readonly T[], show: (x: T) => string, max = 20): string[] {
  if (items.length === 0) return [];
  const lines = [``, `${title} (${items.length}):`, ...items.slice(0, max).map((x) => `  ${show(x)}`)];
  if (items.length > max) lines.push(`  … and ${items.length - max} more (use --json for all)`);
  return lines;
}
