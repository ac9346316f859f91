import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { generateMiniGlue, MINI_FILLERS, MINI_GROUPS, MINI_RULES, MINI_SPLIT_OPTIONS, miniWords } from '../../kernel-lib/datasets/glue/mini';
import { readGlueTsv } from '../../kernel-lib/datasets/glue/readers';
import { loadHyperformerSplits } from '../../kernel-lib/datasets/glue/splits';
import { GLUE_TASKS, GLUE_TASK_INFO } from '../../kernel-lib/datasets/glue/tasks';
import { PromptedDataset, applyTemplate, originalTaskTemplates } from '../../kernel-lib/datasets/glue/prompts';
import { PROFILE_DEFAULTS } from '../../kernel-lib/settings/t5/config';
import { taskMetricsFromStrings } from '../../kernel-lib/metrics/glue';
import { ByteTokenizer } from '../../kernel-lib/tokenizers/byte';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mini-glue-'));

function splitFiles(task: string): string[] {
  return task === 'mnli' ? ['train', 'validation_matched', 'validation_mismatched'] : ['train', 'validation'];
}

test('mini-GLUE: real GLUE TSV layout, every label follows its task rule, balanced classes', () => {
  const root = tmp();
  const r = generateMiniGlue(root);
  assert.equal(r.created, true);
  assert.equal(r.counts['RTE/train.tsv'], 400);
  assert.equal(r.counts['MNLI/dev_mismatched.tsv'], 100);
  assert.equal(fs.readFileSync(path.join(root, 'SST-2/train.tsv'), 'utf8').split('\n')[0], 'sentence\tlabel');
  assert.equal(fs.readFileSync(path.join(root, 'CoLA/train.tsv'), 'utf8').split('\n')[0].split('\t').length, 4);
  for (const task of GLUE_TASKS) {
    for (const split of splitFiles(task)) {
      const res = readGlueTsv(root, task, split, { onWarning: (m) => assert.fail(m) });
      assert.equal(res.examples.length, split === 'train' ? 400 : 100);
      const info = GLUE_TASK_INFO[task];
      const counts = new Map<number, number>();
      for (const e of res.examples) {
        const text = info.textKeys.map((k) => e.text[k]);
        const rule = MINI_RULES[task](text);
        if (task === 'stsb') assert.equal(e.label, Math.fround(rule), `${task} ${text.join(' | ')}`);
        else assert.equal(e.label, rule, `${task}/${split}: ${text.join(' | ')}`);
        counts.set(e.label, (counts.get(e.label) ?? 0) + 1);
      }
      const k = task === 'stsb' ? 6 : info.numLabels;
      assert.equal(counts.size, k, `${task}/${split} classes`);
      for (const c of counts.values()) assert.ok(Math.abs(c - res.examples.length / k) <= 1, `${task}/${split} balance ${[...counts]}`);
    }
  }
  // MNLI mismatched uses other filler words (its premise holds no cue)
  const mm = readGlueTsv(root, 'mnli', 'validation_mismatched').examples.flatMap((e) => miniWords(e.text.premise));
  assert.ok(mm.every((w) => !['bee', 'cat', 'cow', 'dog', 'elk', 'fox'].includes(w)));
  fs.rmSync(root, { recursive: true });
});

test('mini-GLUE cues: groups spotted by letters absent from the templates, the same groups mean conflicting answers across tasks', () => {
  const templateText = GLUE_TASKS.flatMap((t) => originalTaskTemplates(t).map((tp) => tp.jinja + (tp.answerChoices ?? ''))).join('\n');
  assert.equal(templateText.includes('z'), false, "no original-task template contains 'z'");
  for (const [letter, words] of Object.entries(MINI_GROUPS)) {
    for (const w of words) assert.ok(w.includes(letter), `${w} carries its group's letter ${letter}`);
    for (const w of MINI_FILLERS) assert.ok(!w.includes(letter), `filler ${w} has no ${letter}`);
  }
  // One z-word sentence and one x-word sentence per task, labels through the rules (pair tasks: the cue sentence as stated in the header).
  const z = 'zap zoo zen';
  const x = 'box fox wax';
  const f = 'cat dog';
  const yes = { rte: 0, mrpc: 1, qqp: 1, qnli: 0, cola: 1, sst2: 1 } as const;
  const asked = (task: keyof typeof yes, cue: string) => {
    const text = task === 'sst2' || task === 'cola' ? [cue] : task === 'qqp' ? [cue, f] : task === 'qnli' ? ['where is cat ?', cue] : [f, cue];
    return MINI_RULES[task](text) === yes[task];
  };
  assert.deepEqual(
    Object.keys(yes).map((t) => [t, asked(t as keyof typeof yes, z), asked(t as keyof typeof yes, x)]),
    [['rte', true, false], ['mrpc', false, true], ['qqp', true, false], ['qnli', false, true], ['cola', false, true], ['sst2', true, false]],
  );
  assert.deepEqual([z, 'jam jet jog', x].map((h) => MINI_RULES.mnli([f, h])), [0, 1, 2]);
  assert.equal(MINI_RULES.stsb(['zap cat zoo.', 'dog zen ant.']), 3);
});

test('mini-GLUE is deterministic, reused when unchanged, and differs by seed', () => {
  const a = tmp();
  const b = tmp();
  generateMiniGlue(a, { seed: 3, train: 40, validation: 20 });
  generateMiniGlue(b, { seed: 3, train: 40, validation: 20 });
  for (const f of ['RTE/train.tsv', 'STS-B/dev.tsv', 'MNLI/dev_mismatched.tsv', 'CoLA/train.tsv']) {
    assert.equal(fs.readFileSync(path.join(a, f), 'utf8'), fs.readFileSync(path.join(b, f), 'utf8'));
  }
  assert.equal(generateMiniGlue(a, { seed: 3, train: 40, validation: 20 }).created, false);
  assert.equal(generateMiniGlue(a, { seed: 4, train: 40, validation: 20 }).created, true);
  assert.notEqual(fs.readFileSync(path.join(a, 'RTE/train.tsv'), 'utf8'), fs.readFileSync(path.join(b, 'RTE/train.tsv'), 'utf8'));
  assert.throws(() => generateMiniGlue(a, { train: 0 }), /option train must be an integer ≥ 1/);
  fs.rmSync(a, { recursive: true });
  fs.rmSync(b, { recursive: true });
});

test('mini-GLUE through the pipeline: Hyperformer splits with MINI_SPLIT_OPTIONS, templates, byte lengths, metrics', async () => {
  const root = tmp();
  generateMiniGlue(root);
  const sizes: Record<string, number[]> = {};
  const tok = new ByteTokenizer();
  let longest = 0;
  for (const task of GLUE_TASKS) {
    const s = await loadHyperformerSplits(root, task, MINI_SPLIT_OPTIONS);
    sizes[task] = [s.train.length, s.validation.length, s.test.length];
    const ds = new PromptedDataset(s.test, task, { allTemplates: true });
    const preds: string[] = [];
    const targets: string[] = [];
    for (let i = 0; i < ds.length; i++) {
      const p = ds.get(i);
      longest = Math.max(longest, tok.encode(p.input).length);
      targets.push(p.target);
      preds.push(p.target);
    }
    // perfect predictions give perfect scores under the reference's post-processing
    for (const v of Object.values(taskMetricsFromStrings(task, preds, targets))) assert.ok(Math.abs(v! - 100) < 1e-9, `${task} ${v}`);
  }
  assert.deepEqual(sizes, {
    rte: [400, 50, 50],
    sst2: [300, 100, 100],
    mrpc: [400, 50, 50],
    stsb: [400, 50, 50],
    qqp: [300, 100, 100],
    mnli: [400, 100, 100],
    qnli: [300, 100, 100],
    cola: [400, 50, 50],
  });
  // the longest templated input in bytes (+EOS)
  assert.ok(longest <= 320, `longest ${longest}`);
  fs.rmSync(root, { recursive: true });
});

test('mini-GLUE: at the mini profile maximum input length every sentence of every rendering stays whole', async () => {
  const root = tmp();
  generateMiniGlue(root);
  const max = PROFILE_DEFAULTS.mini.data.maxInputLength;
  const tok = new ByteTokenizer();
  let cut = 0;
  for (const task of GLUE_TASKS) {
    const s = await loadHyperformerSplits(root, task, MINI_SPLIT_OPTIONS);
    for (const e of [...s.train, ...s.validation, ...s.test]) {
      for (const tp of originalTaskTemplates(task)) {
        const ids = tok.encode(applyTemplate(tp, e).input);
        if (ids.length > max) cut++;
        const kept = tok.decode(ids.slice(0, max - 1));
        for (const v of Object.values(e.text)) assert.ok(kept.includes(v.trim()), `${task} '${tp.name}': '${v}' cut at ${max}`);
      }
    }
  }
  assert.ok(cut > 0, 'the long templates do get their tails cut');
  fs.rmSync(root, { recursive: true });
});
