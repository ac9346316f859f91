/**
 * Static export of plotly figures (SVG, PNG) through headless Chromium
 * (playwright-core driving the system's Chromium; plotly.js from
 * node_modules is loaded into the page), and self-contained HTML.
 *
 * No browser is ever downloaded: Chromium is taken from SMEAR_CHROMIUM or
 * /usr/bin/chromium, and a missing one is an Error that says how to install
 * it. One browser is started on first use and shared; it is closed after
 * a minute without use, or by `closeRenderer()` (the CLI calls it).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { PlotlyFigure } from './figures';

export type ImageFormat = 'svg' | 'png';

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** The Chromium executable used for static export. */
export function chromiumPath(): string {
  return process.env.SMEAR_CHROMIUM || '/usr/bin/chromium';
}

/** Throws a clear Error when Chromium is missing. */
export function assertChromium(): string {
  const exe = chromiumPath();
  if (!fs.existsSync(exe)) {
    throw new Error(
      `Chromium not found at ${exe}: static figure export (SVG/PNG) runs plotly.js in headless Chromium. ` +
        'Install it with `sudo apt-get install -y chromium` (Debian/Ubuntu), or set SMEAR_CHROMIUM to a Chromium/Chrome executable.',
    );
  }
  return exe;
}

/** plotly.js (minified bundle) from node_modules. */
export function plotlyJsPath(): string {
  return require.resolve('plotly.js-dist-min');
}

let plotlySource: string | undefined;
export function plotlyJs(): string {
  plotlySource ??= fs.readFileSync(plotlyJsPath(), 'utf8');
  return plotlySource;
}

export function plotlyVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(path.dirname(plotlyJsPath()), 'package.json'), 'utf8')) as { version: string }).version;
}

// playwright-core types are only needed here; keep them loose so the library loads without it until used.
interface PwPage {
  setContent(html: string): Promise<void>;
  addScriptTag(o: { path?: string; content?: string }): Promise<unknown>;
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
  close(): Promise<void>;
}
interface PwBrowser {
  newPage(): Promise<PwPage>;
  close(): Promise<void>;
  isConnected(): boolean;
}

let browser: Promise<PwBrowser> | undefined;
let page: Promise<PwPage> | undefined;
let idleTimer: NodeJS.Timeout | undefined;
let queue: Promise<unknown> = Promise.resolve();
const IDLE_MS = 60_000;

async function getPage(): Promise<PwPage> {
  if (!browser) {
    const exe = assertChromium();
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { chromium } = require('playwright-core') as { chromium: { launch(o: Record<string, unknown>): Promise<PwBrowser> } };
    browser = chromium.launch({ executablePath: exe, args: CHROMIUM_ARGS, handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false }).catch((e: Error) => {
      browser = undefined;
      throw new Error(`could not start Chromium (${exe}) for static figure export: ${e.message.split('\n')[0]}`);
    });
    page = undefined;
  }
  if (!page) {
    page = browser.then(async (b) => {
      const p = await b.newPage();
      await p.setContent('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin:0;background:white"><div id="plot"></div></body></html>');
      await p.addScriptTag({ path: plotlyJsPath() });
      return p;
    });
    page.catch(() => (page = undefined));
  }
  return page;
}

function touch(): void {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = setTimeout(() => void closeRenderer(), IDLE_MS);
  idleTimer.unref();
}

/** Close the shared browser (if started). */
export async function closeRenderer(): Promise<void> {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = undefined;
  const b = browser;
  browser = undefined;
  page = undefined;
  if (b) await b.then((x) => x.close()).catch(() => undefined);
}

export interface RenderOptions {
  width?: number;
  height?: number;
  /** PNG pixel ratio (default 2). */
  scale?: number;
}

function figureSize(fig: PlotlyFigure, o: RenderOptions): { width: number; height: number } {
  return {
    width: o.width ?? (typeof fig.layout.width === 'number' ? fig.layout.width : 800),
    height: o.height ?? (typeof fig.layout.height === 'number' ? fig.layout.height : 500),
  };
}

/** Render a figure as SVG text or PNG bytes. */
export async function renderPlot(fig: PlotlyFigure, format: 'svg', opts?: RenderOptions): Promise<string>;
export async function renderPlot(fig: PlotlyFigure, format: 'png', opts?: RenderOptions): Promise<Buffer>;
export async function renderPlot(fig: PlotlyFigure, format: ImageFormat, opts: RenderOptions = {}): Promise<string | Buffer> {
  const run = async () => {
    const p = await getPage();
    const { width, height } = figureSize(fig, opts);
    const url = await p.evaluate(
      async (a: { fig: PlotlyFigure; format: ImageFormat; width: number; height: number; scale: number }) => {
        const P = (globalThis as unknown as { Plotly: { toImage(f: unknown, o: unknown): Promise<string> } }).Plotly;
        return P.toImage({ data: a.fig.data, layout: a.fig.layout }, { format: a.format, width: a.width, height: a.height, scale: a.scale });
      },
      { fig: { data: fig.data, layout: fig.layout }, format, width, height, scale: format === 'png' ? (opts.scale ?? 2) : 1 },
    );
    touch();
    const comma = url.indexOf(',');
    const header = url.slice(0, comma);
    const body = url.slice(comma + 1);
    if (format === 'svg') return header.endsWith(';base64') ? Buffer.from(body, 'base64').toString('utf8') : decodeURIComponent(body);
    return Buffer.from(body, 'base64');
  };
  // One render at a time on the shared page.
  const next = queue.then(run, run);
  queue = next.catch(() => undefined);
  return next;
}

/**
 * Write a figure to `file` (.svg or .png) and, by default, its sibling in the
 * other format (`figures/x.svg` → also `figures/x.png`). Returns the paths written.
 */
export async function savePlot(fig: PlotlyFigure, file: string, opts: RenderOptions & { both?: boolean } = {}): Promise<string[]> {
  const ext = path.extname(file).toLowerCase();
  if (ext !== '.svg' && ext !== '.png') throw new Error(`savePlot: ${file}: expected a .svg or .png file name`);
  const base = file.slice(0, -ext.length);
  const formats: ImageFormat[] = opts.both === false ? [ext.slice(1) as ImageFormat] : ['svg', 'png'];
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const written: string[] = [];
  for (const f of formats) {
    const out = `${base}.${f}`;
    const tmp = `${out}.tmp-${process.pid}`;
    if (f === 'svg') fs.writeFileSync(tmp, await renderPlot(fig, 'svg', opts));
    else fs.writeFileSync(tmp, await renderPlot(fig, 'png', opts));
    fs.renameSync(tmp, out);
    written.push(out);
  }
  return written;
}

let divCounter = 0;

/**
 * HTML for a figure. `plotly: 'inline'` embeds plotly.js (self-contained, ~4.7 MB);
 * 'global' assumes a page where `window.Plotly` exists or will exist (the
 * notebook display embeds it once per kernel and waits for it).
 */
export function plotHtml(fig: PlotlyFigure, opts: { plotly?: 'inline' | 'global'; id?: string } = {}): string {
  const id = opts.id ?? `smear-plot-${process.pid}-${Date.now().toString(36)}-${divCounter++}`;
  const json = JSON.stringify({ data: fig.data, layout: fig.layout, config: { responsive: true, ...fig.config } }).replace(/</g, '\\u003c');
  const lib = opts.plotly === 'inline' ? `<script type="text/javascript">${plotlyJs().replace(/<\/script/gi, '<\\/script')}</script>\n` : '';
  return (
    `${lib}<div id="${id}" style="width:${fig.layout.width ?? 800}px;max-width:100%;height:${fig.layout.height ?? 500}px"></div>\n` +
    `<script type="text/javascript">(function(){var f=${json};var n=0;function draw(){var P=window.Plotly;if(!P){if(n++<200){setTimeout(draw,50);}return;}` +
    `P.newPlot(document.getElementById("${id}"),f.data,f.layout,f.config);}draw();})();</script>`
  );
}

/** A standalone HTML page with the figure (plotly.js inline). */
export function plotPage(fig: PlotlyFigure, title = 'figure'): string {
  return `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${title.replace(/</g, '&lt;')}</title></head><body>\n${plotHtml(fig, { plotly: 'inline' })}\n</body></html>\n`;
}
