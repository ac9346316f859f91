import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'crypto';
import * as fs from 'fs';
import {
  DEFAULT_TEMPLATES_FILE,
  PromptedDataset,
  applyTemplate,
  jinjaTruncate,
  loadPromptTemplates,
  originalTaskTemplates,
  pyFloatStr,
  pyRoundHalfEven,
  stsbTargetString,
  taskAnswerStrings,
} from '../../kernel-lib/datasets/glue/prompts';
import { parseYaml } from '../../kernel-lib/datasets/glue/yaml-lite';
import { GLUE_TASKS } from '../../kernel-lib/datasets/glue/tasks';
import type { GlueExample, GlueTaskName } from '../../kernel-lib/datasets/glue/tasks';
import { Rng } from '../../kernel-lib/util/rng';

const ex = (task: GlueTaskName, text: Record<string, string>, label: number, idx = 0): GlueExample => ({ task, text, label, idx });
const f32 = Math.fround;

// The same examples as the Python script that produced the expected values (promptsource's
// Template.apply re-run with jinja2 3.1.6 and PyYAML 6.0.3 on this machine; see EXPECTED_* below).
const EXAMPLES: Record<GlueTaskName, GlueExample[]> = {
  rte: [ex('rte', { sentence1: 'No Weapons of Mass Destruction Found in Iraq Yet.', sentence2: 'Weapons of Mass Destruction Found in Iraq.' }, 1)],
  sst2: [ex('sst2', { sentence: "it 's a charming and often affecting journey . " }, 1)],
  mrpc: [
    ex('mrpc', {
      sentence1: "He said the foodservice pie business doesn 't fit the company 's long-term growth strategy .",
      sentence2: '"The foodservice pie business does not fit our long-term growth strategy .',
    }, 1),
  ],
  stsb: [
    ex('stsb', { sentence1: 'A plane is taking off.', sentence2: 'An air plane is taking off.' }, f32(5.0), 0),
    ex('stsb', { sentence1: 'A man is playing a flute.', sentence2: 'A man is playing a bamboo flute.' }, f32(3.8), 1),
    ex('stsb', { sentence1: 'a', sentence2: 'b' }, f32(2.5), 2),
    ex('stsb', { sentence1: 'c', sentence2: 'd' }, f32(0.1), 3),
    ex('stsb', { sentence1: 'e', sentence2: 'f' }, f32(0.3), 4),
    ex('stsb', { sentence1: 'g', sentence2: 'h' }, f32(4.7), 5),
    ex('stsb', { sentence1: 'i', sentence2: 'j' }, f32(1.5), 6),
    ex('stsb', { sentence1: 'k', sentence2: 'l' }, f32(0.0), 7),
  ],
  qqp: [ex('qqp', { question1: 'How is the life of a math student? Could you describe your own experiences?', question2: 'Which level of prepration is enough for the exam jlpt5?' }, 0)],
  mnli: [ex('mnli', { premise: 'Conceptually cream skimming has two basic dimensions - product and geography.', hypothesis: 'Product and geography are what make cream skimming work. ' }, 1)],
  qnli: [
    ex('qnli', {
      question: 'When did the third Digimon series begin?',
      sentence:
        'Unlike the two seasons before it and most of the seasons that followed, Digimon Tamers takes a darker and more realistic approach to its story featuring Digimon who do not reincarnate after their deaths and more complex character development in the original Japanese.',
    }, 1),
  ],
  cola: [
    ex('cola', { sentence: "Our friends won't buy this analysis, let alone the next one we propose." }, 1, 0),
    ex('cola', { sentence: 'a ||| b  with pipes\tand tab' }, 0, 1),
  ],
};

test('the templates file parses exactly as PyYAML parses it', () => {
  // Expected: python3 -c (PyYAML 6.0.3 SafeLoader, !Template/!TemplateMetadata as mappings; file split on
  // '^=+ (\w+)\n'; rows [task, key, id, name, jinja, answer_choices, original_task, choices_in_prompt,
  // metrics, languages, reference]; json.dumps(ensure_ascii=False, separators=(',',':')); sha256)
  const src = fs.readFileSync(DEFAULT_TEMPLATES_FILE, 'utf8');
  const parts = src.split(/^=+ (\w+)\n/m);
  const rows: unknown[] = [];
  for (let i = 1; i < parts.length; i += 2) {
    const d = parseYaml(parts[i + 1]) as { templates: Record<string, Record<string, any>> };
    for (const [k, t] of Object.entries(d.templates)) {
      rows.push([parts[i], k, t.id, t.name, t.jinja, t.answer_choices, t.metadata.original_task, t.metadata.choices_in_prompt, t.metadata.metrics, t.metadata.languages, t.reference]);
    }
  }
  assert.equal(rows.length, 53);
  const h = crypto.createHash('sha256').update(JSON.stringify(rows), 'utf8').digest('hex');
  assert.equal(h, '9de4723d4dba9267b170f8665503ff642a216a56bbce97e04cc423558012f021');
});

test('original-task template counts are the reference\'s (MRPC 5 of 7, QQP 5 of 6, MNLI 15; kernel-lib/docs/reference-code.md#prompts)', () => {
  const all = loadPromptTemplates();
  const counts = Object.fromEntries(GLUE_TASKS.map((t) => [t, originalTaskTemplates(t).length]));
  assert.deepEqual(counts, { rte: 5, sst2: 5, mrpc: 5, stsb: 5, qqp: 5, mnli: 15, qnli: 5, cola: 5 });
  assert.equal(all.mrpc.length, 7);
  assert.equal(all.qqp.length, 6);
  assert.deepEqual(
    originalTaskTemplates('mrpc').map((t) => t.name),
    ['want to know', 'paraphrase', 'equivalent', 'replace', 'same thing'],
  );
  assert.deepEqual(originalTaskTemplates('rte')[2].answerChoices, 'entailment ||| not entailment');
});

test('rendering matches promptsource + jinja2 for every original template on the fixtures', () => {
  // Expected hash: promptsource's apply() (truncate command, pipe protector, answer_choices, split/strip)
  // re-implemented in Python with jinja2 3.1.6 over the same EXAMPLES; JSON {task: [[name, [[input,
  // target], ...]], ...]} in task order, json.dumps(ensure_ascii=False, separators=(',',':')), sha256.
  const out: Record<string, unknown[]> = {};
  for (const task of ['rte', 'sst2', 'mrpc', 'stsb', 'qqp', 'mnli', 'qnli', 'cola'] as GlueTaskName[]) {
    out[task] = originalTaskTemplates(task).map((t) => [t.name, EXAMPLES[task].map((e) => { const r = applyTemplate(t, e); return [r.input, r.target]; })]);
  }
  const h = crypto.createHash('sha256').update(JSON.stringify(out), 'utf8').digest('hex');
  assert.equal(h, '1e98519c2bf466ea4f6cf95d3f603ab124f7ff55b0d114f127256c36261ea6d1');
});

test('literal renders, one template per task (from the same jinja2 run)', () => {
  const r = (task: GlueTaskName, k = 0, e = 0) => applyTemplate(originalTaskTemplates(task)[k], EXAMPLES[task][e]);
  assert.deepEqual(r('rte'), {
    input: 'No Weapons of Mass Destruction Found in Iraq Yet.\nDoes this mean that "Weapons of Mass Destruction Found in Iraq." is true? A) yes or B) no.',
    target: 'no',
  });
  assert.deepEqual(r('sst2'), { input: "it 's a charming and often affecting journey . \nQuestion: Was that sentence positive or negative? Answer:", target: 'positive' });
  assert.deepEqual(r('mrpc'), {
    input:
      "I want to know whether the following two sentences mean the same thing.\nHe said the foodservice pie business doesn 't fit the company 's long-term growth strategy .\n\"The foodservice pie business does not fit our long-term growth strategy .\nDo they?",
    target: 'yes',
  });
  assert.deepEqual(r('stsb', 0, 1), {
    input: 'Rate on a scale from 0.0 to 5.0 how similar the sentences "A man is playing a flute." and "A man is playing a bamboo flute." are.',
    target: '3.8',
  });
  assert.deepEqual(r('qqp'), {
    input:
      'I\'m an administrator on the website Quora. There are two posts, one that asks "How is the life of a math student? Could you describe your own experiences?" and another that asks "Which level of prepration is enough for the exam jlpt5?". I can merge questions if they are asking the same thing. Can I merge these two questions?',
    target: 'no',
  });
  assert.deepEqual(r('mnli'), {
    input: 'Suppose it\'s true that Conceptually cream skimming has two basic dimensions - product and geography. Then, is "Product and geography are what make cream skimming work. " always, sometimes, or never true?',
    target: 'Sometimes',
  });
  assert.equal(r('qnli').target, 'no');
  assert.ok(r('qnli').input.endsWith('\nDoes that sentence have all you need to answer the question "When did the third Digimon series begin?"?'));
  assert.deepEqual(r('cola', 0, 1), {
    input: 'Does the following sentence make sense and use correct English? Please answer yes or no.\na ||| b  with pipes\tand tab',
    target: 'no',
  });
});

test('STS-B target: round half to even on the float32 label, Python float formatting', () => {
  const targets = EXAMPLES.stsb.map((e) => stsbTargetString(e.label));
  // jinja2: 5.0→'5.0', 3.8→'3.8', 2.5→12.5→12→'2.4', f32(0.1)→0.50000000745→1→'0.2', f32(0.3)→'0.4',
  // f32(4.7)=4.6999998→23.4999990→23→'4.6', 1.5→7.5→8→'1.6', 0→'0.0'
  assert.deepEqual(targets, ['5.0', '3.8', '2.4', '0.2', '0.4', '4.6', '1.6', '0.0']);
  assert.equal(stsbTargetString(0.1), '0.0'); // float64 0.1: 5*0.1 = 0.5 exactly → 0 (half to even)
  assert.equal(pyRoundHalfEven(2.5), 2);
  assert.equal(pyRoundHalfEven(3.5), 4);
  assert.equal(pyRoundHalfEven(-0.4), -0);
  assert.equal(pyFloatStr(4), '4.0');
  assert.equal(pyFloatStr(1e-7), '1e-07');
  assert.deepEqual(taskAnswerStrings('stsb').slice(0, 4), ['0.0', '0.2', '0.4', '0.6']);
  assert.equal(taskAnswerStrings('stsb').length, 26);
  assert.deepEqual(taskAnswerStrings('cola'), ['no ', ' yes', 'No ', ' Yes', 'no ', ' yes', 'unacceptable ', ' acceptable', 'no ', ' yes']);
});

test('jinja2 truncate semantics for very long fields', () => {
  assert.equal(jinjaTruncate('a'.repeat(2053)), 'a'.repeat(2053)); // within leeway 5
  const long = 'word '.repeat(500); // 2500 chars
  const t = jinjaTruncate(long);
  assert.ok(t.endsWith('word...'));
  assert.equal(t, long.slice(0, 2045).split(' ').slice(0, -1).join(' ') + '...');
  assert.equal(jinjaTruncate('x'.repeat(3000)), 'x'.repeat(2045) + '...');
});

test('PromptedDataset: allTemplates expands example-major; training draws a template per access from the Rng', () => {
  const exs = [EXAMPLES.cola[0], EXAMPLES.cola[1]];
  const all = new PromptedDataset(exs, 'cola', { allTemplates: true });
  assert.equal(all.length, 10);
  const names = originalTaskTemplates('cola').map((t) => t.name);
  assert.equal(all.get(0).template, names[0]);
  assert.equal(all.get(6).template, names[1]);
  assert.equal(all.get(6).key, 1);
  assert.equal(all.get(6).taskIndex, 7);
  assert.equal(all.get(9).target, 'no');

  const rng = new Rng(7);
  const expect = new Rng(7);
  const train = new PromptedDataset(exs, 'cola', { rng });
  assert.equal(train.length, 2);
  const seen = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const p = train.get(i % 2);
    assert.equal(p.template, names[expect.uniformInt(1, 5)[0]]);
    seen.add(p.template);
  }
  assert.equal(seen.size, 5);
  assert.throws(() => train.get(2), /outside/);
  assert.throws(() => new PromptedDataset([EXAMPLES.rte[0]], 'cola'), /from task rte/);
});
