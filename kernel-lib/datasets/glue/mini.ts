/**
 * mini-GLUE: a deterministic synthetic stand-in for GLUE, written in the GLUE
 * TSV layout (same folders, file names, headers and column orders as the real
 * distribution, see readers.ts) so the whole T5-GLUE pipeline — readers,
 * Hyperformer splits, promptsource templates, metrics — runs on it unchanged
 * with a byte tokenizer and a tiny T5 in minutes.
 *
 * Sentences are 2–4 three-letter words (STS-B: 3–4). The promptsource
 * templates themselves are long, so templated inputs reach about 270 bytes
 * (RTE/STS-B; seed 0, all templates); every sentence ends within the first 191
 * bytes of every rendering, so the mini profile's maximum input length of 192
 * (with EOS) cuts only template tails (RTE 20%, STS-B 40%, QQP 20% of the
 * renderings; counted and warned by encodeTruncated).
 *
 * Each task has the shape of its GLUE namesake and a rule a tiny byte-level
 * T5 can learn through adapters in a few hundred steps: the label is decided
 * by which *cue group* the words of the task's cue sentence come from. The
 * groups' words share a letter that occurs in no template (z-words zap zen
 * zoo, x-words box fox wax, j-words jam jet jog; in the 50 original-task
 * templates 'z' never occurs, 'x' 3 and 'j' 2 times), so the cue is easy to spot; the
 * other sentence of a pair (and the rest of the vocabulary) are filler words
 * that carry no label. What makes routing matter is that the tasks map the
 * SAME groups to CONFLICTING answers: z-words mean "yes" for RTE, QQP and
 * MNLI (and "positive" for SST-2) but "no" for MRPC, QNLI and CoLA, and
 * x-words the opposite. One shared adapter must hold all eight mappings and
 * tell the task from the template; a per-task expert needs one each (the
 * analogue of mini-DomainNet's conflicting digit orientations, data/README.md).
 *
 * | task | shape (label)                                   | cue sentence  | rule                                                        |
 * |------|-------------------------------------------------|---------------|-------------------------------------------------------------|
 * | rte  | pair, entailment 0 / not 1                      | sentence2     | entailment iff z-words (x-words: not entailment)             |
 * | sst2 | single, negative 0 / positive 1                 | the sentence  | positive iff z-words (x-words: negative)                    |
 * | mrpc | pair, not equivalent 0 / equivalent 1           | sentence2     | equivalent iff x-words (z-words: not equivalent)            |
 * | stsb | pair, score 0–5                                 | both          | score = number of z-words in the two sentences (0–5 of 6–8) |
 * | qqp  | pair, not duplicate 0 / duplicate 1             | question1     | duplicate iff z-words (x-words: not duplicate)              |
 * | mnli | pair, entailment 0 / neutral 1 / contradiction 2 | hypothesis   | z-words entailment, j-words neutral, x-words contradiction  |
 * | qnli | question+sentence, entailment 0 / not 1         | sentence      | entailment iff x-words (z-words: not entailment)            |
 * | cola | single, unacceptable 0 / acceptable 1           | the sentence  | acceptable iff x-words (z-words: unacceptable)              |
 *
 * (Format 1, before: rules on containment, counting, multisets, alphabetical
 * order… of 3–7-word sentences; the tiny model stayed at chance on them.)
 *
 * Labels are balanced (classes alternate before shuffling). MNLI's
 * dev_mismatched draws its filler words from another part of the filler list
 * (MINI_FILLERS.slice(7) and the first two) than train/dev_matched use
 * ("another genre"). Sizes default to 400 train and
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

/**
 * The cue groups: a task's label is decided by the group its cue sentence's
 * words come from (see the header). Each group's words share a letter that is
 * (nearly) absent from the templates, so a byte-level model can spot them.
 */
export const MINI_GROUPS = { z: ['zap', 'zen', 'zoo'], x: ['box', 'fox', 'wax'], j: ['jam', 'jet', 'jog'] } as const;
/** Words that carry no label. */
export const MINI_FILLERS = ['ant', 'bad', 'bee', 'cat', 'cow', 'dog', 'elk', 'good', 'hen', 'owl', 'pig', 'ram', 'sun', 'yak'] as const;
export const MINI_VOCAB: readonly string[] = [...MINI_FILLERS, ...Object.values(MINI_GROUPS).flat()].sort();
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

/** The manifest file mini-GLUE writes last (its `params` identify the generated data). */
export const MINI_GLUE_MANIFEST = 'MINI_GLUE.json';
const FORMAT_VERSION = 2;

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
}

type Row = { text: string[]; label: number | string };

type Group = keyof typeof MINI_GROUPS;

/** Words of a text, punctuation dropped. */
export function miniWords(s: string): string[] {
  return s.replace(/[.?]/g, ' ').split(/\s+/).filter(Boolean);
}

const count = (s: string, g: Group): number => miniWords(s).filter((w) => (MINI_GROUPS[g] as readonly string[]).includes(w)).length;
const all = (s: string, g: Group): boolean => count(s, g) === miniWords(s).length;

/** The rules, as functions of the text: also used by the tests to re-derive every label. */
export const MINI_RULES: Record<GlueTaskName, (text: string[]) => number> = {
  rte: ([, b]) => (all(b, 'z') ? 0 : 1),
  sst2: ([s]) => (all(s, 'z') ? 1 : 0),
  mrpc: ([, b]) => (all(b, 'x') ? 1 : 0),
  stsb: ([a, b]) => count(a, 'z') + count(b, 'z'),
  qqp: ([a]) => (all(a, 'z') ? 1 : 0),
  mnli: ([, b]) => (all(b, 'z') ? 0 : all(b, 'j') ? 1 : 2),
  qnli: ([, s]) => (all(s, 'x') ? 0 : 1),
  cola: ([s]) => (all(s, 'x') ? 1 : 0),
};

/** The group whose words make up the cue sentence of each class (index: label). */
const GROUP_OF: Record<Exclude<GlueTaskName, 'stsb'>, readonly Group[]> = {
  rte: ['z', 'x'],
  sst2: ['x', 'z'],
  mrpc: ['z', 'x'],
  qqp: ['x', 'z'],
  mnli: ['z', 'j', 'x'],
  qnli: ['x', 'z'],
  cola: ['z', 'x'],
};

/** Which sentence is the cue sentence (0 first, 1 second). */
const CUE_SENTENCE: Record<Exclude<GlueTaskName, 'stsb'>, number> = { rte: 1, sst2: 0, mrpc: 1, qqp: 0, mnli: 1, qnli: 1, cola: 0 };

function makeRow(task: GlueTaskName, g: Gen, want: number, fillers: Words): Row {
  const join = (ws: string[]) => ws.join(' ');
  const plain = (n: number) => g.sentence(n, fillers);
  if (task === 'stsb') {
    // want = 0..5 z words spread over two sentences of 3–4 words
    const la = g.len(3, 4);
    const lb = g.len(3, 4);
    const slots = g.shuffle(Array.from({ length: la + lb }, (_, i) => i)).slice(0, want);
    const ws = plain(la + lb).map((w, i) => (slots.includes(i) ? g.pick(MINI_GROUPS.z) : w));
    return { text: [join(ws.slice(0, la)) + '.', join(ws.slice(la)) + '.'], label: want.toFixed(3) };
  }
  const cue = (n: number) => g.sentence(n, MINI_GROUPS[GROUP_OF[task][want]]);
  const sentences = [0, 1].map((i) => (i === CUE_SENTENCE[task] ? cue(g.len(2, 4)) : plain(g.len(2, 4))));
  const [a, b] = sentences;
  switch (task) {
    case 'rte':
      return { text: [join(a), join(b)], label: want === 0 ? 'entailment' : 'not_entailment' };
    case 'sst2':
      return { text: [join(a) + ' '], label: want };
    case 'mrpc':
      return { text: [join(a), join(b)], label: want };
    case 'qqp':
      return { text: [join(a) + '?', join(b) + '?'], label: want };
    case 'mnli':
      return { text: [join(a) + '.', join(b) + '.'], label: ['entailment', 'neutral', 'contradiction'][want] };
    case 'qnli':
      return { text: [`where is ${a[0]} ?`, join(b) + ' .'], label: want === 0 ? 'entailment' : 'not_entailment' };
    case 'cola':
      return { text: [join(a) + ' .'], label: want };
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
  const manifestPath = path.join(root, MINI_GLUE_MANIFEST);
  if (!opts.overwrite && fs.existsSync(manifestPath)) {
    try {
      const m = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
      if (JSON.stringify(m.params) === JSON.stringify(params)) return { root, created: false, counts: m.counts };
    } catch {
      /* rewrite below */
    }
  }
  const rng = new Rng(seed);
    // "another genre" for MNLI's dev_mismatched: fillers mostly from the second half of the vocabulary
  const mismatched = [...MINI_FILLERS.slice(7), ...MINI_FILLERS.slice(0, 2)];
  const counts: Record<string, number> = {};
  for (const task of GLUE_TASKS) {
    const info = GLUE_TASK_INFO[task];
    const dir = path.join(root, info.tsvDir);
    fs.mkdirSync(dir, { recursive: true });
    const files: [string, number, Words, boolean][] =
      task === 'mnli'
        ? [
            ['train.tsv', nTrain, MINI_FILLERS, false],
            ['dev_matched.tsv', nVal, MINI_FILLERS, true],
            ['dev_mismatched.tsv', nVal, mismatched, true],
          ]
        : [
            ['train.tsv', nTrain, MINI_FILLERS, false],
            ['dev.tsv', nVal, MINI_FILLERS, false],
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
