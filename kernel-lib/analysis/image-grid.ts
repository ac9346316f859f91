/**
 * A grid of sample images (e.g. one row per DomainNet domain) as a plotly
 * figure: the images are tiled into one PNG with sharp, shown as an image
 * trace whose axes name the rows (domains) and columns (classes).
 */
import sharp from 'sharp';
import type { PlotlyFigure } from './figures';

export interface ImageGridRow {
  label: string;
  files: string[];
}

export async function imageGridPng(rows: ImageGridRow[], cell = 64, gap = 2): Promise<{ png: Buffer; width: number; height: number }> {
  const cols = Math.max(1, ...rows.map((r) => r.files.length));
  const width = cols * (cell + gap) + gap;
  const height = rows.length * (cell + gap) + gap;
  const tiles = await Promise.all(
    rows.flatMap((r, i) =>
      r.files.map(async (f, j) => ({
        input: await sharp(f).resize(cell, cell, { fit: 'contain', background: '#ffffff' }).png().toBuffer(),
        left: gap + j * (cell + gap),
        top: gap + i * (cell + gap),
      })),
    ),
  );
  const png = await sharp({ create: { width, height, channels: 3, background: '#dddddd' } }).composite(tiles).png().toBuffer();
  return { png, width, height };
}

/** Figure with the tiled images; `columnLabels` name the columns (e.g. classes). */
export async function imageGridFigure(rows: ImageGridRow[], opts: { title: string; columnLabels?: string[]; cell?: number; xTitle?: string; yTitle?: string }): Promise<PlotlyFigure> {
  const cell = opts.cell ?? 64;
  const gap = 2;
  const { png, width, height } = await imageGridPng(rows, cell, gap);
  const centre = (k: number) => gap + k * (cell + gap) + cell / 2;
  const cols = Math.max(1, ...rows.map((r) => r.files.length));
  return {
    data: [{ type: 'image', source: `data:image/png;base64,${png.toString('base64')}`, x0: 0, y0: 0, dx: 1, dy: 1, hoverinfo: 'skip' }],
    layout: {
      title: { text: opts.title, x: 0.5, xanchor: 'center' },
      width: width + 200,
      height: height + 150,
      margin: { l: 150, r: 40, t: 70, b: 80 },
      font: { family: 'Arial, Helvetica, sans-serif', size: 12 },
      paper_bgcolor: 'white',
      xaxis: { range: [0, width], showgrid: false, zeroline: false, title: { text: opts.xTitle ?? '' }, tickmode: 'array', tickvals: Array.from({ length: cols }, (_, j) => centre(j)), ticktext: opts.columnLabels ?? Array.from({ length: cols }, (_, j) => String(j)) },
      yaxis: { range: [height, 0], showgrid: false, zeroline: false, scaleanchor: 'x', title: { text: opts.yTitle ?? '', standoff: 12 }, automargin: true, tickmode: 'array', tickvals: rows.map((_, i) => centre(i)), ticktext: rows.map((r) => r.label) },
    },
    config: { displaylogo: false },
  };
}
