/**
 * promptsource templates for the GLUE tasks (kernel-lib/docs/reference-code.md#prompts), rendered the way
 * promptsource's `Template.apply` renders them, with @huggingface/jinja.
 *
 * Source: `promptsource_glue_templates.txt` next to this file (the raw
 * promptsource YAML of the 8 tasks, public promptsource data; sections start
 * with a `=================== <task>` line). Only templates with
 * `metadata.original_task: true` are used, in file order (promptsource's
 * `all_template_names` order): RTE 5, SST-2 5, MRPC 5 of 7, STS-B 5, QQP 5 of
 * 6, MNLI 15, QNLI 5, CoLA 5.
 *
 * `Template.apply` (promptsource/templates.py), step by step, and how it is
 * reproduced here:
 * 1. every `}}` becomes `| string | truncate(2048) }}` → each string field of
 *    the example is truncated beforehand with jinja2's `do_truncate(s, 2048)`
 *    (leeway 5, end '...', cut at the last space); the other expressions of
 *    the GLUE templates (answer choices, literals, the STS-B number) are far
 *    shorter than 2048 characters.
 * 2. occurrences of `|||` in string fields are replaced by a protector string
 *    and restored after splitting (same protector).
 * 3. `answer_choices` = the answer_choices expression rendered, split on
 *    `|||`, each part stripped (None when the template has none).
 * 4. render, split on `|||`, strip each part (Python `str.strip` whitespace).
 * STS-B's target `{{ (((5*label) | round )/5) }}` uses jinja2's `round`
 * filter, which @huggingface/jinja lacks: it is computed in TypeScript with
 * Python's semantics — label is the float32 score as a double, `round(x, 0)`
 * rounds half to even, then `/5`, formatted like Python's `str(float)`
 * (3.8 → '3.8', 4.0 → '4.0') — and substituted for that expression.
 * Templates with `{% %}` blocks (none among the original-task ones) would
 * render with @huggingface/jinja's trim_blocks/lstrip_blocks instead of
 * jinja2's defaults; `parsePromptTemplates` warns about them.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Template } from '@huggingface/jinja';
import { parseYaml } from './yaml-lite';
import { GLUE_TASK_INFO, glueTask, isGlueTask } from './tasks';
import type { GlueExample, GlueTaskName } from './tasks';
import { Rng } from '../../util/rng';

export const DEFAULT_TEMPLATES_FILE = path.join(__dirname, 'promptsource_glue_templates.txt');

export interface PromptTemplate {
  task: GlueTaskName;
  id: string;
  name: string;
  jinja: string;
  /** the answer_choices expression (`a ||| b`), or null */
  answerChoices: string | null;
  originalTask: boolean;
  choicesInPrompt: boolean | null;
  metrics: string[];
}

/** Parses the promptsource GLUE YAML (all templates, file order). */
export function parsePromptTemplates(text: string, file = DEFAULT_TEMPLATES_FILE, onWarning?: (m: string) => void): Record<GlueTaskName, PromptTemplate[]> {
  const out = Object.fromEntries(Object.keys(GLUE_TASK_INFO).map((k) => [k, [] as PromptTemplate[]])) as Record<GlueTaskName, PromptTemplate[]>;
  const re = /^=+ (\S+)[ \t]*\r?\n/gm;
  const heads: { task: string; start: number; body: number; line: number }[] = [];
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    heads.push({ task: m[1], start: m.index, body: m.index + m[0].length, line: text.slice(0, m.index).split('\n').length });
  }
  if (heads.length === 0) throw new Error(`${file}:1: no '=================== <task>' section lines found`);
  heads.forEach((h, i) => {
    if (!isGlueTask(h.task)) throw new Error(`${file}:${h.line}: unknown GLUE task ${JSON.stringify(h.task)}`);
    const body = text.slice(h.body, i + 1 < heads.length ? heads[i + 1].start : text.length);
    const lineOffset = h.line; // body's first line is h.line + 1
    let doc: unknown;
    try {
      doc = parseYaml(body, `${file} (section ${h.task}, add ${lineOffset} to the line)`);
    } catch (e) {
      throw new Error((e as Error).message);
    }
    const d = doc as { subset?: string; templates?: Record<string, Record<string, unknown>> };
    if (d?.subset !== h.task || !d.templates || typeof d.templates !== 'object') {
      throw new Error(`${file}:${h.line}: section ${h.task}: expected 'subset: ${h.task}' and a 'templates' mapping`);
    }
    for (const [id, t] of Object.entries(d.templates)) {
      const meta = (t.metadata ?? {}) as Record<string, unknown>;
      if (typeof t.jinja !== 'string' || typeof t.name !== 'string') throw new Error(`${file}: section ${h.task}: template ${id} lacks jinja/name`);
      const tpl: PromptTemplate = {
        task: h.task,
        id,
        name: t.name,
        jinja: t.jinja,
        answerChoices: typeof t.answer_choices === 'string' ? t.answer_choices : null,
        originalTask: meta.original_task === true,
        choicesInPrompt: typeof meta.choices_in_prompt === 'boolean' ? meta.choices_in_prompt : null,
        metrics: Array.isArray(meta.metrics) ? (meta.metrics as string[]) : [],
      };
      if (tpl.originalTask && /\{%|%\}/.test(tpl.jinja)) {
        (onWarning ?? console.warn)(`${file}: ${h.task} template '${tpl.name}' uses {% %} blocks; whitespace control differs from jinja2's defaults`);
      }
      out[h.task].push(tpl);
    }
  });
  return out;
}

const fileCache = new Map<string, Record<GlueTaskName, PromptTemplate[]>>();

/** All templates of the file, per task (cached per file). */
export function loadPromptTemplates(file = DEFAULT_TEMPLATES_FILE): Record<GlueTaskName, PromptTemplate[]> {
  let r = fileCache.get(file);
  if (!r) {
    if (!fs.existsSync(file)) throw new Error(`loadPromptTemplates: ${file} not found (option 'file')`);
    r = parsePromptTemplates(fs.readFileSync(file, 'utf8'), file);
    fileCache.set(file, r);
  }
  return r;
}

/** The templates the reference uses: `original_task: true`, file order. */
export function originalTaskTemplates(task: string, file = DEFAULT_TEMPLATES_FILE): PromptTemplate[] {
  return loadPromptTemplates(file)[glueTask(task).name].filter((t) => t.originalTask);
}

// ---------------------------------------------------------------- rendering

const PIPE_PROTECTOR = '3ed2dface8203c4c9dfb1a5dc58e41e0';
const TEXT_VAR_LENGTH = 2048;

/** Python's str.strip() whitespace (str.isspace). */
const PY_WS = '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_STRIP = new RegExp(`^[${PY_WS}]+|[${PY_WS}]+$`, 'g');
export function pyStrip(s: string): string {
  return s.replace(PY_STRIP, '');
}

/** jinja2's `truncate(s, length, killwords=False, end='...', leeway=5)`, lengths in code points. */
export function jinjaTruncate(s: string, length = TEXT_VAR_LENGTH, leeway = 5, end = '...'): string {
  const cps = Array.from(s);
  if (cps.length <= length + leeway) return s;
  const head = cps.slice(0, length - end.length).join('');
  const k = head.lastIndexOf(' ');
  return (k >= 0 ? head.slice(0, k) : head) + end;
}

/** Python's round(x) for a float with ndigits=0: round half to even. */
export function pyRoundHalfEven(x: number): number {
  if (!Number.isFinite(x)) return x;
  const f = Math.floor(x);
  const d = x - f;
  const r = d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
  // Python keeps the sign of zero: round(-0.4) == -0.0
  return r === 0 && (x < 0 || Object.is(x, -0)) ? -0 : r;
}

/** Python's str(float) for the finite values met here (shortest repr; integers get '.0'). */
export function pyFloatStr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (Object.is(x, -0)) return '-0.0';
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return x.toFixed(1);
  const s = String(x);
  // JS and Python agree on the shortest digits; exponent spelling differs (1e-7 vs 1e-07)
  return s.replace(/e([+-])(\d)$/, 'e$10$2');
}

/** The STS-B target `{{ (((5*label) | round )/5) }}` as promptsource renders it. */
export function stsbTargetString(label: number): string {
  return pyFloatStr(pyRoundHalfEven(5 * label) / 5);
}

const STSB_EXPR = /\{\{\s*\(\(\(\s*5\s*\*\s*label\s*\)\s*\|\s*round\s*\)\s*\/\s*5\s*\)\s*\}\}/g;
const STSB_VAR = '__stsb_target__';

interface Compiled {
  template: Template;
  choices: Template | null;
}
const compiled = new WeakMap<PromptTemplate, Compiled>();

function compile(t: PromptTemplate): Compiled {
  let c = compiled.get(t);
  if (!c) {
    const jinja = t.jinja.replace(STSB_EXPR, `{{ ${STSB_VAR} }}`);
    if (/\|\s*(round|truncate)\b/.test(jinja)) {
      throw new Error(`prompts: ${t.task} template '${t.name}' uses a jinja2 filter @huggingface/jinja lacks (round/truncate): ${JSON.stringify(t.jinja)}`);
    }
    try {
      c = { template: new Template(jinja), choices: t.answerChoices === null ? null : new Template(t.answerChoices) };
    } catch (e) {
      throw new Error(`prompts: cannot parse ${t.task} template '${t.name}': ${(e as Error).message}`);
    }
    compiled.set(t, c);
  }
  return c;
}

export interface RenderedPrompt {
  input: string;
  target: string;
}

/** Renders one example under one template: [input, target], as promptsource's apply(). */
export function applyTemplate(t: PromptTemplate, example: GlueExample): RenderedPrompt {
  const c = compile(t);
  const protectedEx: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(example.text)) protectedEx[k] = jinjaTruncate(v).split('|||').join(PIPE_PROTECTOR);
  protectedEx.label = example.label;
  protectedEx.idx = example.idx;
  let choices: string[] | null = null;
  if (c.choices) {
    choices = c.choices
      .render(protectedEx)
      .split('|||')
      .map((s) => pyStrip(s).split(PIPE_PROTECTOR).join('|||'));
  }
  const vars: Record<string, unknown> = { ...protectedEx, answer_choices: choices };
  if (example.task === 'stsb' || STSB_EXPR.test(t.jinja)) vars[STSB_VAR] = stsbTargetString(example.label);
  STSB_EXPR.lastIndex = 0;
  let rendered: string;
  try {
    rendered = c.template.render(vars);
  } catch (e) {
    throw new Error(`prompts: rendering ${t.task} template '${t.name}' on example idx ${example.idx} failed: ${(e as Error).message}`);
  }
  const parts = rendered.split('|||').map((p) => pyStrip(p.split(PIPE_PROTECTOR).join('|||')));
  if (parts.length !== 2) {
    throw new Error(`prompts: ${t.task} template '${t.name}' gave ${parts.length} part(s) for example idx ${example.idx}, expected input ||| target`);
  }
  return { input: parts[0], target: parts[1] };
}

/** The answer strings a task's templates can produce (the reference's `label_list`, for max decode length). */
export function taskAnswerStrings(task: string, file = DEFAULT_TEMPLATES_FILE): string[] {
  const info = glueTask(task);
  if (info.labelType === 'regression') return Array.from({ length: 26 }, (_, i) => pyFloatStr(Math.round(i * 2) / 10));
  const out: string[] = [];
  for (const t of originalTaskTemplates(info.name, file)) if (t.answerChoices) out.push(...t.answerChoices.split('|||'));
  return out;
}

// ---------------------------------------------------------------- datasets

export interface PromptedExample extends RenderedPrompt {
  task: GlueTaskName;
  /** task id (rte=0 … cola=7) */
  taskIndex: number;
  /** position of the example in its split */
  key: number;
  /** the example's HF idx */
  idx: number;
  label: number;
  template: string;
}

export interface PromptedDatasetOptions {
  /** evaluate every example under every template (length × nTemplates); default false */
  allTemplates?: boolean;
  /** generator for the per-access template choice (default new Rng(42)); unused with allTemplates */
  rng?: Rng;
  /** templates (default: the task's original-task templates) */
  templates?: PromptTemplate[];
}

/**
 * The reference's DatasetWithTemplate: with allTemplates, item i is example
 * ⌊i / T⌋ under template i mod T; otherwise item i is example i under a
 * template drawn uniformly at every access (np.random.choice in the reference;
 * here `rng.uniformInt(1, T)`).
 */
export class PromptedDataset {
  readonly task: GlueTaskName;
  readonly templates: PromptTemplate[];
  readonly allTemplates: boolean;
  private readonly rng: Rng;

  constructor(
    readonly examples: readonly GlueExample[],
    task: string,
    opts: PromptedDatasetOptions = {},
  ) {
    this.task = glueTask(task).name;
    this.templates = opts.templates ?? originalTaskTemplates(this.task);
    if (this.templates.length === 0) throw new Error(`PromptedDataset: no templates for ${this.task}`);
    this.allTemplates = opts.allTemplates ?? false;
    this.rng = opts.rng ?? new Rng(42);
    for (const e of examples) {
      if (e.task !== this.task) throw new Error(`PromptedDataset(${this.task}): example idx ${e.idx} is from task ${e.task}`);
    }
  }

  get length(): number {
    return this.allTemplates ? this.examples.length * this.templates.length : this.examples.length;
  }

  get(i: number): PromptedExample {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new RangeError(`PromptedDataset(${this.task}).get: index ${i} outside [0, ${this.length})`);
    let t: PromptTemplate;
    let key: number;
    if (this.allTemplates) {
      t = this.templates[i % this.templates.length];
      key = Math.floor(i / this.templates.length);
    } else {
      t = this.templates[this.rng.uniformInt(1, this.templates.length)[0]];
      key = i;
    }
    const ex = this.examples[key];
    const r = applyTemplate(t, ex);
    return { ...r, task: this.task, taskIndex: GLUE_TASK_INFO[this.task].index, key, idx: ex.idx, label: ex.label, template: t.name };
  }
}
