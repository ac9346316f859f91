/**
 * mini-GLUE: a deterministic synthetic stand-in for GLUE, written in the GLUE
 * TSV layout (same folders, file names, headers and column orders as the real
 * distribution, see readers.ts) so the whole T5-GLUE pipeline — readers,
 * Hyperformer splits, promptsource templates, metrics — runs on it unchanged
 * with a byte tokenizer and a tiny T5 in minutes.
 *
 * Sentences are 3–7 words from a 16-word vocabulary. The promptsource
 * templates themselves are long, so templated inputs reach about 280 bytes
 * (RTE/STS-B; seed 0, all templates): with the byte tokenizer, use a maximum
 * input length of 320 to see whole prompts — at the reference's 128, roughly
 * a third of RTE/MRPC/STS-B/QQP/QNLI/CoLA prompt renderings are truncated
 * (counted and warned by encodeTruncated). Each task has the shape of its
 * GLUE namesake but its own rule, so the tasks need different skills, and the
 * rules disagree about the same kinds of inputs (several pair tasks ask
 * "yes/no" about membership, equality or order with different answers),
 * which is what makes routing matter: one shared adapter must hold all eight
 * rules, per-task experts need one each.
 *
 * | task | shape (label)                        | rule (skill)                                                                 |
 * |------|--------------------------------------|------------------------------------------------------------------------------|
 * | rte  | pair, entailment 0 / not 1           | entailment iff every word of sentence2 occurs in sentence1 (containment)      |
 * | sst2 | single, negative 0 / positive 1      | positive iff "good" occurs more often than "bad" (counting, compare counts)   |
 * | mrpc | pair, not equivalent 0 / equivalent 1 | equivalent iff the two sentences have the same words in any order (multiset) |
 * | stsb | pair, score 0–5                      | 5 × fraction of positions holding the same word (aligned overlap)             |
 * | qqp  | pair, not duplicate 0 / duplicate 1  | duplicate iff both questions start with the same word (position)             |
 * | mnli | pair, entailment 0 / neutral 1 / contradiction 2 | premise longer / same length / shorter than hypothesis (length order) |
 * | qnli | question+sentence, entailment 0 / not 1 | entailment iff the question's word occurs in the sentence (lookup)        |
 * | cola | single, unacceptable 0 / acceptable 1 | acceptable iff the words are in alphabetical order (order, characters)      |
 *
 * Labels are balanced (classes alternate before shuffling). MNLI's
 * dev_mismatched draws its words from the other half of the vocabulary than
 * train/dev_matched use most ("another genre"). Sizes default to 400 train and
 * 100 validation rows per task (MNLI: 100 matched + 100 mismatched). With the
 * Hyperformer split scheme, use MINI_SPLIT_OPTIONS (1,000 → 100 validation
 * rows taken from train for SST-2/QQP/QNLI), which gives train/validation/test
 * = 400/50/50 (RTE, MRPC, STS-B, CoLA), 300/100/100 (SST-2, QQP, QNLI) and
 * 400/100/100 (MNLI).
 *
 * Deterministic: one Rng(seed) stream, tasks generated in GLUE_TASKS order.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Rng } from '../../util/rng';
import { GLUE_TASKS, GLUE_TASK_INFO } from './tasks';
import type { GlueTaskName } from './tasks';
import type { SplitOptions } from './splits';

export const MINI_VOCAB = ['ant', 'bad', 'bee', 'cat', 'cow', 'dog', 'elk', 'fox', 'good', 'hen', 'jay', 'owl', 'pig', 'ram', 'sun', 'yak'] as const;
/** split options that fit the mini sizes (validation from train: 100 rows, not 1,000) */
export const MINI_SPLIT_OPTIONS: SplitOptions = { validationSize: 100 };

export interface MiniGlueOptions {
  seed?: number;
  /** rows in each train.tsv (default 400) */
  train?: number;
  /** rows in each dev file (default 100) */
  validation?: number;
  /** rewrite even if a manifest with the same options exists */
  overwrite?: boolean;
}

export interface MiniGlueResult {
  root: string;
  created: boolean;
  counts: Record<string, number>;
}

const MANIFEST = 'MINI_GLUE.json';
const FORMAT_VERSION = 1;

type Words = readonly string[];

class Gen {
  constructor(
    private readonly rng: Rng,
    private readonly words: Words,
  ) {}
  int(n: number): number {
    return this.rng.uniformInt(1, n)[0];
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  len(lo = 3, hi = 7): number {
    return lo + this.int(hi - lo + 1);
  }
  sentence(n: number, from: Words = this.words): string[] {
    return Array.from({ length: n }, () => this.pick(from));
  }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [xs[i], xs[j]] = [xs[j], xs[i]];
    }
    return xs;
  }
  other(w: string, from: Words = this.words): string {
    let x = w;
    while (x === w) x = this.pick(from);
    return x;
  }
}

type Row = { text: string[]; label: number | string };

const sortedAlpha = (ws: string[]): boolean => ws.every((w, i) => i === 0 || ws[i - 1] <= w);
const countOf = (ws: string[], w: string): number => ws.filter((x) => x === w).length;
const sameMultiset = (a: string[], b: string[]): boolean => a.length === b.length && [...a].sort().join(' ') === [...b].sort().join(' ');

/** Words of a text, punctuation dropped. */
export function miniWords(s: string): string[] {
  return s.replace(/[.?]/g, ' ').split(/\s+/).filter(Boolean);
}

/** The rules, as functions of the text: also used by the tests to re-derive every label. */
export const MINI_RULES: Record<GlueTaskName, (text: string[]) => number> = {
  rte: ([a, b]) => (miniWords(b).every((w) => miniWords(a).includes(w)) ? 0 : 1),
  sst2: ([s]) => (countOf(miniWords(s), 'good') > countOf(miniWords(s), 'bad') ? 1 : 0),
  mrpc: ([a, b]) => (sameMultiset(miniWords(a), miniWords(b)) ? 1 : 0),
  stsb: ([a, b]) => {
    const x = miniWords(a);
    const y = miniWords(b);
    const same = x.filter((w, i) => y[i] === w).length;
    return (5 * same) / Math.max(x.length, y.length);
  },
  qqp: ([a, b]) => (miniWords(a)[0] === miniWords(b)[0] ? 1 : 0),
  mnli: ([a, b]) => {
    const d = miniWords(a).length - miniWords(b).length;
    return d > 0 ? 0 : d === 0 ? 1 : 2;
  },
  qnli: ([q, s]) => (miniWords(s).includes(miniWords(q)[2]) ? 0 : 1),
  cola: ([s]) => (sortedAlpha(miniWords(s)) ? 1 : 0),
};

function makeRow(task: GlueTaskName, g: Gen, want: number, words: Words): Row {
  const join = (ws: string[]) => ws.join(' ');
  switch (task) {
    case 'rte': {
      const a = g.sentence(g.len(4, 7), words);
      const b = g.shuffle([...a]).slice(0, 2 + g.int(2));
      if (want === 1) b[g.int(b.length)] = g.pick(words.filter((w) => !a.includes(w)));
      return { text: [join(a), join(b)], label: want === 0 ? 'entailment' : 'not_entailment' };
    }
    case 'sst2': {
      const n = g.len(4, 7);
      const filler = words.filter((w) => w !== 'good' && w !== 'bad');
      const k = 1 + g.int(3); // 1–3 sentiment words
      const good = want === 1 ? Math.floor(k / 2) + 1 : Math.floor((k - 1) / 2); // good > bad iff positive
      const ws = [...Array(good).fill('good'), ...Array(k - good).fill('bad'), ...g.sentence(n - k, filler)];
      return { text: [join(g.shuffle(ws)) + ' '], label: want };
    }
    case 'mrpc': {
      const a = g.sentence(g.len(4, 7), words);
      const b = g.shuffle([...a]);
      if (want === 0) {
        const i = g.int(b.length);
        b[i] = g.other(b[i], words);
      }
      return { text: [join(a), join(b)], label: want };
    }
    case 'stsb': {
      const n = 5;
      const a = g.sentence(n, words);
      const same = want; // 0..5 positions kept
      const keep = new Set(g.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, same));
      const b = a.map((w, i) => (keep.has(i) ? w : g.other(w, words)));
      return { text: [join(a) + '.', join(b) + '.'], label: ((5 * same) / n).toFixed(3) };
    }
    case 'qqp': {
      const a = g.sentence(g.len(3, 6), words);
      const b = g.sentence(g.len(3, 6), words);
      b[0] = want === 1 ? a[0] : g.other(a[0], words);
      return { text: [join(a) + '?', join(b) + '?'], label: want };
    }
    case 'mnli': {
      const lb = g.len(3, 6);
      const la = want === 0 ? lb + 1 + g.int(2) : want === 1 ? lb : Math.max(2, lb - 1 - g.int(2));
      return { text: [join(g.sentence(la, words)) + '.', join(g.sentence(lb, words)) + '.'], label: ['entailment', 'neutral', 'contradiction'][want] };
    }
    case 'qnli': {
      const s = g.sentence(g.len(4, 7), words);
      const w = want === 0 ? g.pick(s) : g.pick(words.filter((x) => !s.includes(x)));
      return { text: [`where is ${w} ?`, join(s) + ' .'], label: want === 0 ? 'entailment' : 'not_entailment' };
    }
    case 'cola': {
      let s = g.sentence(g.len(3, 6), words);
      if (want === 1) s.sort();
      else while (sortedAlpha(s)) s = g.sentence(s.length, words);
      return { text: [join(s) + ' .'], label: want };
    }
  }
}

function header(task: GlueTaskName, mnliDev: boolean): string | null {
  switch (task) {
    case 'cola':
      return null;
    case 'sst2':
      return 'sentence\tlabel';
    case 'mrpc':
      return 'Quality\t#1 ID\t#2 ID\t#1 String\t#2 String';
    case 'stsb':
      return 'index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore';
    case 'qqp':
      return 'id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate';
    case 'mnli':
      return `index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\t${mnliDev ? 'label2\tlabel3\tlabel4\tlabel5\t' : ''}gold_label`;
    case 'qnli':
      return 'index\tquestion\tsentence\tlabel';
    case 'rte':
      return 'index\tsentence1\tsentence2\tlabel';
  }
}

function line(task: GlueTaskName, r: Row, i: number, mnliDev: boolean): string {
  const [a, b] = r.text;
  const l = String(r.label);
  switch (task) {
    case 'cola':
      return `mini\t${l}\t${l === '1' ? '' : '*'}\t${a}`;
    case 'sst2':
      return `${a}\t${l}`;
    case 'mrpc':
      return `${l}\t${2 * i}\t${2 * i + 1}\t${a}\t${b}`;
    case 'stsb':
      return `${i}\tmini\tmini\t2024\t${String(i).padStart(4, '0')}\tnone\tnone\t${a}\t${b}\t${l}`;
    case 'qqp':
      return `${i}\t${2 * i}\t${2 * i + 1}\t${a}\t${b}\t${l}`;
    case 'mnli': {
      const parse = (s: string) => `( ${s} )`;
      const tree = (s: string) => `(ROOT ${s})`;
      return `${i}\t${i}\t${i}${l[0]}\tmini\t${parse(a)}\t${parse(b)}\t${tree(a)}\t${tree(b)}\t${a}\t${b}\t${l}\t${mnliDev ? `${l}\t${l}\t${l}\t${l}\t` : ''}${l}`;
    }
    case 'qnli':
    case 'rte':
      return `${i}\t${a}\t${b}\t${l}`;
  }
}

function rows(task: GlueTaskName, g: Gen, n: number, words: Words): Row[] {
  const k = task === 'stsb' ? 6 : GLUE_TASK_INFO[task].numLabels;
  const out = Array.from({ length: n }, (_, i) => makeRow(task, g, i % k, words));
  return g.shuffle(out);
}

/** Writes mini-GLUE under `root` (reused when a manifest with the same options is there). */
export function generateMiniGlue(root: string, opts: MiniGlueOptions = {}): MiniGlueResult {
  const seed = opts.seed ?? 0;
  const nTrain = opts.train ?? 400;
  const nVal = opts.validation ?? 100;
  for (const [k, v] of [['train', nTrain], ['validation', nVal]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`generateMiniGlue: option ${k} must be an integer ≥ 1, got ${v}`);
  }
  const params = { format: FORMAT_VERSION, seed, train: nTrain, validation: nVal };
  const manifestPath = path.join(root, MANIFEST);
  if (!opts.overwrite && fs.existsSync(manifestPath)) {
    try {
      const m = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
      if (JSON.stringify(m.params) === JSON.stringify(params)) return { root, created: false, counts: m.counts };
    } catch {
      /* rewrite below */
    }
  }
  const rng = new Rng(seed);
  const half = MINI_VOCAB.length / 2;
  const counts: Record<string, number> = {};
  for (const task of GLUE_TASKS) {
    const info = GLUE_TASK_INFO[task];
    const dir = path.join(root, info.tsvDir);
    fs.mkdirSync(dir, { recursive: true });
    const files: [string, number, Words, boolean][] =
      task === 'mnli'
        ? [
            ['train.tsv', nTrain, MINI_VOCAB, false],
            ['dev_matched.tsv', nVal, MINI_VOCAB, true],
            // "another genre": mostly the second half of the vocabulary
            ['dev_mismatched.tsv', nVal, [...MINI_VOCAB.slice(half), ...MINI_VOCAB.slice(0, 2)], true],
          ]
        : [
            ['train.tsv', nTrain, MINI_VOCAB, false],
            ['dev.tsv', nVal, MINI_VOCAB, false],
          ];
    for (const [file, n, words, dev] of files) {
      const g = new Gen(rng, words);
      const body = rows(task, g, n, words).map((r, i) => line(task, r, i, dev));
      const h = header(task, dev);
      const text = (h === null ? body : [h, ...body]).join('\n') + '\n';
      const target = path.join(dir, file);
      fs.writeFileSync(target + '.tmp', text);
      fs.renameSync(target + '.tmp', target);
      counts[`${info.tsvDir}/${file}`] = n;
    }
  }
  fs.writeFileSync(manifestPath, JSON.stringify({ params, counts, note: 'mini-GLUE, see kernel-lib/datasets/glue/mini.ts' }, null, 2) + '\n');
  return { root, created: true, counts };
}
