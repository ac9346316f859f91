/**
 * Rich output in the tslab kernel: figures as Jupyter MIME bundles, tables,
 * Markdown, images, and displays that update in place.
 *
 * What tslab offers (tslab 1.0.22, dist/public.js and dist/jupyter.js):
 * `display.html(s)`, `.png(b)`, … send one `display_data` message with ONE
 * MIME type; `newDisplay()` returns a display with its own `display_id`
 * whose second and later calls send `update_display_data` (the output is
 * replaced in place). Both go through `jupyter.lastWriteDisplayData(content,
 * update)`, which tslab points at the running cell's iopub writer. To send a
 * whole MIME bundle in one message (plotly JSON + HTML + PNG, so each
 * front end picks what it renders) this module calls that same function with
 * a multi-MIME `data` object; where it is unavailable (a different tslab) it
 * falls back to tslab's public single-MIME API (HTML, or PNG), and outside a
 * kernel to plain text on stdout.
 *
 * A figure's bundle:
 *   application/vnd.plotly.v1+json  interactive (JupyterLab with jupyterlab-plotly, VS Code)
 *   text/html                       plotly.js + the figure (plotly.js is embedded in the
 *                                   first figure of a kernel session, later ones use it)
 *   image/png                       static rendering through headless Chromium (analysis/render.ts)
 *   text/plain                      the title
 */
import type { PlotlyFigure } from '../analysis/figures';
import { plotHtml, plotlyJs, renderPlot } from '../analysis/render';
import { toMarkdown } from '../analysis/tables';
import type * as dfd from 'danfojs-node';

export type MimeBundle = Record<string, string | object>;

interface TslabJupyter {
  lastWriteDisplayData: ((content: { data: MimeBundle; metadata: object; transient: { display_id?: string } }, update: boolean) => void) | null;
}

let jupyterModule: TslabJupyter | null | undefined;

/** tslab's jupyter module as loaded by the running kernel (never loaded here). */
export function tslabJupyter(): TslabJupyter | null {
  if (jupyterModule === undefined) {
    const key = Object.keys(require.cache).find((k) => /[\\/]tslab[\\/]dist[\\/]jupyter\.js$/.test(k));
    jupyterModule = key ? (require.cache[key]!.exports as TslabJupyter) : null;
  }
  return jupyterModule ?? null;
}

/** True inside a tslab kernel that is executing (or has executed) a cell. */
export function inKernel(): boolean {
  return typeof tslabJupyter()?.lastWriteDisplayData === 'function';
}

/** An identity of the cell being executed (tslab sets a new writer per execute request); null outside a kernel. */
export function currentCellToken(): unknown {
  return tslabJupyter()?.lastWriteDisplayData ?? null;
}

let displayCounter = 0;
function newDisplayId(): string {
  return `smear-${process.pid.toString(36)}-${Date.now().toString(36)}-${(displayCounter++).toString(36)}`;
}

/** Send a MIME bundle; with `displayId`, `update` replaces an earlier output with that id. */
export function sendBundle(bundle: MimeBundle, opts: { displayId?: string; update?: boolean } = {}): void {
  const j = tslabJupyter();
  if (j && typeof j.lastWriteDisplayData === 'function') {
    j.lastWriteDisplayData({ data: bundle, metadata: {}, transient: opts.displayId ? { display_id: opts.displayId } : {} }, !!opts.update);
    return;
  }
  const text = bundle['text/plain'] ?? bundle['text/markdown'];
  process.stdout.write(`${typeof text === 'string' ? text : JSON.stringify(text)}\n`);
}

let plotlyEmbedded = false;

export interface FigureBundleOptions {
  /** Include a static PNG: true (render with headless Chromium; default), false, or the PNG itself (e.g. from savePlot). */
  png?: boolean | Uint8Array;
  /** Include an SVG (headless Chromium). Default false. */
  svg?: boolean;
  /** 'once' (default): plotly.js inside the first figure's HTML of this kernel; 'inline': in every figure. */
  plotlyJs?: 'once' | 'inline';
}

function titleOf(fig: PlotlyFigure): string {
  const t = fig.layout.title as { text?: string } | string | undefined;
  return typeof t === 'string' ? t : (t?.text ?? 'figure');
}

/** The MIME bundle of a figure. */
export async function figureBundle(fig: PlotlyFigure, opts: FigureBundleOptions = {}): Promise<MimeBundle> {
  const inline = opts.plotlyJs === 'inline' || !plotlyEmbedded;
  const html = (inline ? `<script type="text/javascript">${plotlyJs().replace(/<\/script/gi, '<\\/script')}</script>\n` : '') + plotHtml(fig, { plotly: 'global' });
  if (inKernel() && inline) plotlyEmbedded = true;
  const bundle: MimeBundle = {
    'application/vnd.plotly.v1+json': { data: fig.data, layout: fig.layout, config: fig.config ?? {} },
    'text/html': html,
    'text/plain': `<plotly figure: ${titleOf(fig).replace(/<[^>]+>/g, '')}>`,
  };
  if (opts.png instanceof Uint8Array) bundle['image/png'] = Buffer.from(opts.png).toString('base64');
  else if (opts.png !== false) bundle['image/png'] = (await renderPlot(fig, 'png')).toString('base64');
  if (opts.svg) bundle['image/svg+xml'] = await renderPlot(fig, 'svg');
  return bundle;
}

/** Display a figure (interactive where the front end can, with a static PNG). */
export async function showPlot(fig: PlotlyFigure, opts: FigureBundleOptions = {}): Promise<void> {
  sendBundle(await figureBundle(fig, { ...opts, png: inKernel() ? (opts.png ?? true) : false }));
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Display a DataFrame (or rows) as an HTML table with Markdown and text alternatives. */
export function showTable(df: dfd.DataFrame, caption?: string): void {
  const cols = df.columns as string[];
  const rows = df.values as unknown[][];
  const fmt = (v: unknown) => (typeof v === 'number' ? (Number.isFinite(v) ? (Number.isInteger(v) && Math.abs(v) >= 1000 ? v.toLocaleString('en-US') : String(v)) : '–') : escapeHtml(String(v ?? '')));
  const html =
    `<table class="smear-table" style="border-collapse:collapse">${caption ? `<caption style="caption-side:top;text-align:left;font-weight:bold">${escapeHtml(caption)}</caption>` : ''}` +
    `<thead><tr>${cols.map((c) => `<th style="text-align:left;padding:2px 8px;border-bottom:1px solid #888">${escapeHtml(c)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.map((v) => `<td style="padding:2px 8px;text-align:${typeof v === 'number' ? 'right' : 'left'}">${fmt(v)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
  const md = `${caption ? `**${caption}**\n\n` : ''}${toMarkdown(df)}`;
  sendBundle({ 'text/html': html, 'text/markdown': md, 'text/plain': md });
}

export function showMarkdown(md: string): void {
  sendBundle({ 'text/markdown': md, 'text/plain': md });
}

export function showHtml(html: string, text = html.replace(/<[^>]+>/g, '')): void {
  sendBundle({ 'text/html': html, 'text/plain': text });
}

export function showPng(png: Uint8Array, text = '<image>'): void {
  sendBundle({ 'image/png': Buffer.from(png).toString('base64'), 'text/plain': text });
}

/** The sleep between tries of a send that zeromq refused as busy. */
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

function isBusy(e: unknown): boolean {
  return (e as { code?: unknown })?.code === 'EBUSY' || /busy writing/i.test(String((e as Error)?.message ?? e));
}

/**
 * Send one update and let it leave: tslab's iopub socket (zeromq 6) sends
 * synchronously up to 512 times in a row, then defers a send to the next
 * turn of the event loop, and a send while one is deferred throws EBUSY
 * ("Socket is busy writing"). The kernel preload queues iopub sends so this
 * cannot happen in the smear-ts kernel; in another tslab kernel, a busy send
 * is tried again for up to about 2 s, and after each send the next one waits
 * a turn of the loop, when a deferred send goes out.
 */
async function sendOneAtATime(send: () => void): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      send();
      break;
    } catch (e) {
      if (!isBusy(e) || attempt >= 60) throw e;
      await (attempt < 10 ? nextTurn() : delay(40));
    }
  }
  await nextTurn();
}

/**
 * An output that is replaced in place on every `update` (Jupyter's
 * display_id / update_display_data, as tslab's `newDisplay()` does).
 *
 * Updates never fail and never overlap, so that a live plot cannot stop the
 * training that feeds it:
 *  - one update is in flight at a time (its bundle made, e.g. a PNG rendered,
 *    and sent); updates that arrive meanwhile are coalesced into the newest,
 *    which is sent next, so the newest figure is always the one shown last;
 *  - updates are throttled to one per `minIntervalMs` (unless forced or
 *    final); a throttled one is kept as the newest and sent by the next
 *    update that is due, or by `flush`;
 *  - a failing update (rendering or sending) is reported once on stderr and
 *    swallowed; later updates are still tried. The promises returned never
 *    reject.
 * Outside a kernel nothing is sent.
 */
export class LiveDisplay {
  readonly id = newDisplayId();
  private shown = false;
  private last = -Infinity;
  /** The newest update not yet sent. */
  private newest?: () => Promise<MimeBundle>;
  /** Whether `newest` is to be sent as soon as the update in flight is done (false: throttled). */
  private due = false;
  /** The sending loop, while an update is in flight. */
  private sending: Promise<void> | null = null;
  private failures = 0;

  constructor(private readonly minIntervalMs = 1500) {}

  /** Updates that failed (reported once, on the first). */
  get failedUpdates(): number {
    return this.failures;
  }

  /** Replace the output with this figure (no PNG while live; the final update carries one). */
  updateFigure(fig: PlotlyFigure, opts: { force?: boolean; final?: boolean } = {}): Promise<void> {
    const make = async () => {
      // The display that first embedded plotly.js keeps embedding it: its earlier HTML is replaced.
      const first = !plotlyEmbedded;
      const b = await figureBundle(fig, { png: !!opts.final && inKernel(), plotlyJs: this.carriesPlotly || first ? 'inline' : 'once' });
      if (first && inKernel()) this.carriesPlotly = true;
      return b;
    };
    return this.push(make, !!(opts.force || opts.final));
  }

  private carriesPlotly = false;

  updateBundle(bundle: MimeBundle, force = false): Promise<void> {
    return this.push(async () => bundle, force);
  }

  /** Resolves once this update, or a newer one that replaced it, has been sent (or was throttled). */
  private push(make: () => Promise<MimeBundle>, force: boolean): Promise<void> {
    if (!inKernel()) return Promise.resolve();
    const throttled = !force && this.shown && Date.now() - this.last < this.minIntervalMs;
    this.newest = make;
    if (!throttled) this.due = true;
    if (!this.due) return this.sending ?? Promise.resolve();
    return (this.sending ??= this.drain());
  }

  private async drain(): Promise<void> {
    try {
      while (this.due && this.newest) {
        const make = this.newest;
        this.newest = undefined;
        this.due = false;
        this.last = Date.now();
        try {
          const bundle = await make();
          await sendOneAtATime(() => sendBundle(bundle, { displayId: this.id, update: this.shown }));
          this.shown = true;
        } catch (e) {
          this.fail(e);
        }
      }
    } finally {
      this.sending = null;
    }
  }

  private fail(e: unknown): void {
    if (this.failures++ > 0) return;
    try {
      process.stderr.write(`[smear] live display ${this.id}: an update failed (training goes on; later failures of this display are not reported): ${e instanceof Error ? e.message : String(e)}\n`);
    } catch {
      // stderr is the kernel's socket too; nothing else to tell.
    }
  }

  /** Send the last throttled update, if any, and wait for the one in flight. */
  async flush(): Promise<void> {
    if (this.newest) this.due = true;
    if (this.due) await (this.sending ??= this.drain());
    else if (this.sending) await this.sending;
  }
}
