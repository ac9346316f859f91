import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readGlueTsv, readGlueParquet, readGlueSplit, detectGlueFormat, glueParquetFiles } from '../../kernel-lib/datasets/glue/readers';
import { GLUE_TASKS, GLUE_TASK_INFO, glueTask, glueTaskIndex } from '../../kernel-lib/datasets/glue/tasks';
import { importEsm } from '../../kernel-lib/tokenizers/esm';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'glue-data-'));
}
function write(file: string, lines: string[]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, lines.join('\n') + '\n');
}
const MNLI_TRAIN_HEAD = 'index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label';
const MNLI_DEV_HEAD = 'index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label';

/** A GLUE TSV tree in the real layout (headers and column orders of the GLUE distribution). */
function writeGlueTsvFixture(root: string): void {
  write(path.join(root, 'RTE/train.tsv'), [
    'index\tsentence1\tsentence2\tlabel',
    '0\tNo Weapons of Mass Destruction Found in Iraq Yet.\tWeapons of Mass Destruction Found in Iraq.\tnot_entailment',
    '1\tA place of sorrow, after Pope John Paul II died, became a place of celebration.\tPope Benedict XVI is the new leader.\tentailment',
  ]);
  write(path.join(root, 'RTE/dev.tsv'), ['index\tsentence1\tsentence2\tlabel', ...Array.from({ length: 7 }, (_, i) => `${i}\tpremise ${i}\thypothesis ${i}\t${i % 2 ? 'not_entailment' : 'entailment'}`)]);
  write(path.join(root, 'SST-2/train.tsv'), ['sentence\tlabel', 'hide new secretions from the parental units \t0', 'contains no wit , only labored gags \t0', 'that loves its characters \t1']);
  write(path.join(root, 'SST-2/dev.tsv'), ['sentence\tlabel', "it 's a charming and often affecting journey . \t1"]);
  write(path.join(root, 'MRPC/train.tsv'), [
    'Quality\t#1 ID\t#2 ID\t#1 String\t#2 String',
    '1\t702876\t702977\tAmrozi accused his brother , whom he called " the witness " , of deliberately distorting his evidence .\tReferring to him as only " the witness " , Amrozi accused his brother of deliberately distorting his evidence .',
    '0\t2108705\t2108831\tYucaipa owned Dominick \'s before selling the chain to Safeway in 1998 for $ 2.5 billion .\tYucaipa bought Dominick \'s in 1995 for $ 693 million and sold it to Safeway for $ 1.8 billion in 1998 .',
  ]);
  write(path.join(root, 'MRPC/dev.tsv'), ['Quality\t#1 ID\t#2 ID\t#1 String\t#2 String', '1\t1\t2\ta\tb', '0\t3\t4\tc\td']);
  write(path.join(root, 'STS-B/train.tsv'), [
    'index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore',
    '0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA plane is taking off.\tAn air plane is taking off.\t5.000',
    '1\tmain-captions\tMSRvid\t2012test\t0004\tnone\tnone\tA man is playing a large flute.\tA man is playing a flute.\t3.800',
  ]);
  write(path.join(root, 'STS-B/dev.tsv'), ['index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore', '0\tg\tf\ty\t0\tn\tn\ts1\ts2\t0.100']);
  write(path.join(root, 'QQP/train.tsv'), [
    'id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate',
    '133273\t213221\t213222\tHow is the life of a math student? Could you describe your own experiences?\tWhich level of prepration is enough for the exam jlpt5?\t0',
    '402555\t536040\t536041\tHow do I control my horny emotions?\tHow do you control your horniness?\t1',
  ]);
  write(path.join(root, 'QQP/dev.tsv'), ['id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate', '1\t2\t3\tq1?\tq2?\t1']);
  const parse = '( ( x ) )\t( ( y ) )\t(ROOT (S x))\t(ROOT (S y))';
  write(path.join(root, 'MNLI/train.tsv'), [
    MNLI_TRAIN_HEAD,
    `0\t31193\t31193n\tgovernment\t${parse}\tConceptually cream skimming has two basic dimensions - product and geography.\tProduct and geography are what make cream skimming work. \tneutral\tneutral`,
    `1\t101457\t101457e\ttelephone\t${parse}\tyou know during the season and i guess at at your level uh you lose them to the next level\tYou lose the things to the following level if the people recall.\tentailment\tentailment`,
    `2\t134793\t134793e\tfiction\t${parse}\tOne of our number will carry out your instructions minutely.\tA member of my team will execute your orders with immense precision.\tentailment\tcontradiction`,
  ]);
  write(path.join(root, 'MNLI/dev_matched.tsv'), [MNLI_DEV_HEAD, `0\t63735\t63735n\tslate\t${parse}\tThe new rights are nice enough\tEveryone really likes the newest benefits \tneutral\tentailment\tneutral\tneutral\tneutral\tneutral`]);
  write(path.join(root, 'MNLI/dev_mismatched.tsv'), [MNLI_DEV_HEAD, `0\t75290\t75290c\tletters\t${parse}\tYour contribution helped make it possible.\tYour contributions were of no help.\tcontradiction\tcontradiction\tcontradiction\tcontradiction\tcontradiction\tcontradiction`]);
  write(path.join(root, 'QNLI/train.tsv'), [
    'index\tquestion\tsentence\tlabel',
    '0\tWhen did the third Digimon series begin?\tUnlike the two seasons before it, Digimon Tamers takes a darker approach.\tnot_entailment',
    '1\tWhich missile batteries often have individual launchers several kilometres from one another?\tWhen MANPADS is operated by specialists, batteries may have several dozen teams deploying separately in small sections.\tentailment',
  ]);
  write(path.join(root, 'QNLI/dev.tsv'), ['index\tquestion\tsentence\tlabel', '0\tq?\ts.\tentailment']);
  write(path.join(root, 'CoLA/train.tsv'), [
    "gj04\t1\t\tOur friends won't buy this analysis, let alone the next one we propose.",
    'gj04\t0\t*\tThey drank the pub.',
  ]);
  write(path.join(root, 'CoLA/dev.tsv'), ['gj04\t1\t\tThe sailors rode the breeze clear of the rocks.', 'gj04\t0\t*\tThe more you eat, the less.']);
}

test('task table: reference order rte=0 … cola=7, names from either spelling', () => {
  assert.deepEqual([...GLUE_TASKS], ['rte', 'sst2', 'mrpc', 'stsb', 'qqp', 'mnli', 'qnli', 'cola']);
  GLUE_TASKS.forEach((t, i) => assert.equal(GLUE_TASK_INFO[t].index, i));
  assert.equal(glueTaskIndex('SST-2'), 1);
  assert.equal(glueTask('STS-B').name, 'stsb');
  assert.equal(GLUE_TASKS.reduce((s, t) => s + GLUE_TASK_INFO[t].metrics.length, 0), 11);
  assert.throws(() => glueTask('wnli'), /unknown task/);
});

test('TSV reader: every task in its real column layout, labels mapped as HF datasets does', () => {
  const root = tmp();
  writeGlueTsvFixture(root);
  const r = (t: string, s = 'train') => readGlueTsv(root, t, s, { onWarning: (m) => assert.fail(m) }).examples;
  assert.deepEqual(r('rte')[0], {
    task: 'rte',
    idx: 0,
    label: 1,
    text: { sentence1: 'No Weapons of Mass Destruction Found in Iraq Yet.', sentence2: 'Weapons of Mass Destruction Found in Iraq.' },
  });
  assert.equal(r('rte')[1].label, 0);
  assert.deepEqual(r('sst2').map((e) => e.label), [0, 0, 1]);
  assert.equal(r('sst2')[0].text.sentence, 'hide new secretions from the parental units ');
  assert.deepEqual(r('mrpc').map((e) => [e.label, e.text.sentence1.slice(0, 6), e.text.sentence2.slice(0, 6)]), [[1, 'Amrozi', 'Referr'], [0, 'Yucaip', 'Yucaip']]);
  assert.deepEqual(r('stsb').map((e) => e.label), [5, Math.fround(3.8)]);
  assert.equal(r('stsb', 'validation')[0].label, Math.fround(0.1));
  assert.deepEqual(r('qqp').map((e) => [e.label, Object.keys(e.text)]), [[0, ['question1', 'question2']], [1, ['question1', 'question2']]]);
  assert.deepEqual(r('mnli').map((e) => e.label), [1, 0, 2]); // gold_label, not label1
  assert.equal(r('mnli')[0].text.premise, 'Conceptually cream skimming has two basic dimensions - product and geography.');
  assert.equal(r('mnli')[0].text.hypothesis, 'Product and geography are what make cream skimming work. ');
  assert.equal(r('mnli', 'validation_matched')[0].label, 1);
  assert.equal(r('mnli', 'validation_mismatched')[0].label, 2);
  assert.deepEqual(r('qnli').map((e) => [e.label, Object.keys(e.text)]), [[1, ['question', 'sentence']], [0, ['question', 'sentence']]]);
  assert.deepEqual(r('cola').map((e) => [e.idx, e.label, e.text.sentence]), [
    [0, 1, "Our friends won't buy this analysis, let alone the next one we propose."],
    [1, 0, 'They drank the pub.'],
  ]);
  assert.equal(r('rte', 'validation').length, 7);
  assert.throws(() => readGlueTsv(root, 'mnli', 'validation'), /does not exist for mnli/);
  assert.throws(() => readGlueTsv(root, 'rte', 'validation_matched'), /does not exist for rte/);
  fs.rmSync(root, { recursive: true });
  assert.throws(() => readGlueTsv(root, 'rte', 'train'), /RTE[\\/]train\.tsv not found.*option 'root'/);
});

test('TSV reader: malformed rows are reported with file:line, skipped, counted and summarised', () => {
  const root = tmp();
  const file = path.join(root, 'RTE/train.tsv');
  write(file, [
    'index\tsentence1\tsentence2\tlabel',
    '0\tgood one\tok\tentailment',
    '1\ta stray\ttab\tinside\tentailment',
    '2\ttoo few\tentailment',
    '3\tbad label\tx\tmaybe',
    '4\tgood two\tok\tnot_entailment',
  ]);
  const warnings: string[] = [];
  const res = readGlueTsv(root, 'rte', 'train', { onWarning: (m) => warnings.push(m) });
  assert.equal(res.skipped, 3);
  assert.deepEqual(res.examples.map((e) => [e.idx, e.text.sentence1]), [[0, 'good one'], [4, 'good two']]); // idx counts skipped rows, as HF
  assert.equal(warnings.length, 4);
  assert.match(warnings[0], new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: expected 4 tab-separated columns, found 5; row skipped`));
  assert.match(warnings[1], /train\.tsv:4: expected 4 tab-separated columns, found 3/);
  assert.match(warnings[2], /train\.tsv:5: label "maybe" is not one of entailment, not_entailment, 0, 1/);
  assert.match(warnings[3], /3 malformed row\(s\) skipped; 2 read/);
  // only the first maxReported are listed, then the summary
  const w2: string[] = [];
  readGlueTsv(root, 'rte', 'train', { onWarning: (m) => w2.push(m), maxReported: 1 });
  assert.equal(w2.length, 2);
  assert.match(w2[1], /3 malformed row\(s\) skipped \(first 1 reported\)/);
  // STS-B score that is not a number
  write(path.join(root, 'STS-B/train.tsv'), ['index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore', '0\tg\tf\ty\t0\tn\tn\ta\tb\tNaNish']);
  const w3: string[] = [];
  assert.equal(readGlueTsv(root, 'stsb', 'train', { onWarning: (m) => w3.push(m) }).skipped, 1);
  assert.match(w3[0], /STS-B[\\/]train\.tsv:2: score "NaNish" is not a number/);
  // a wrong header is an error (the wrong file, not a bad row)
  write(path.join(root, 'SST-2/train.tsv'), ['sentence\tlabels', 'x\t1']);
  assert.throws(() => readGlueTsv(root, 'sst2', 'train'), /SST-2[\\/]train\.tsv:1: header for sst2 should be sentence, label/);
  fs.rmSync(root, { recursive: true });
});

interface HyparquetWriter {
  parquetWriteFile(o: { filename: string; columnData: { name: string; data: unknown[]; type?: string }[] }): Promise<void> | void;
}

test('parquet reader: HF export layout and columns (written with hyparquet-writer)', async () => {
  const root = tmp();
  const w = await importEsm<HyparquetWriter>('hyparquet-writer');
  fs.mkdirSync(path.join(root, 'rte'), { recursive: true });
  await w.parquetWriteFile({
    filename: path.join(root, 'rte', 'train-00000-of-00001.parquet'),
    columnData: [
      { name: 'sentence1', data: ['s1 a', 's1 b', 's1 c'], type: 'STRING' },
      { name: 'sentence2', data: ['s2 a', 's2 b', 's2 c'], type: 'STRING' },
      { name: 'label', data: [1n, 0n, 1n], type: 'INT64' },
      { name: 'idx', data: [0, 1, 2], type: 'INT32' },
    ],
  });
  fs.mkdirSync(path.join(root, 'stsb'), { recursive: true });
  await w.parquetWriteFile({
    filename: path.join(root, 'stsb', 'validation-00000-of-00001.parquet'),
    columnData: [
      { name: 'sentence1', data: ['a', 'b'], type: 'STRING' },
      { name: 'sentence2', data: ['c', 'd'], type: 'STRING' },
      { name: 'label', data: [Math.fround(3.8), 2.5], type: 'FLOAT' },
      { name: 'idx', data: [0, 1], type: 'INT32' },
    ],
  });
  fs.mkdirSync(path.join(root, 'mnli', 'validation_matched'), { recursive: true });
  for (const [k, shard] of [[0, '0000.parquet'], [1, '0001.parquet']] as const) {
    await w.parquetWriteFile({
      filename: path.join(root, 'mnli', 'validation_matched', shard),
      columnData: [
        { name: 'premise', data: [`p${k}`], type: 'STRING' },
        { name: 'hypothesis', data: [`h${k}`], type: 'STRING' },
        { name: 'label', data: [BigInt(k + 1)], type: 'INT64' },
        { name: 'idx', data: [k], type: 'INT32' },
      ],
    });
  }
  fs.mkdirSync(path.join(root, 'cola'), { recursive: true });
  await w.parquetWriteFile({
    filename: path.join(root, 'cola', 'train-00000-of-00001.parquet'),
    columnData: [
      { name: 'sentence', data: ['fine.', 'bad label.'], type: 'STRING' },
      { name: 'label', data: [1n, 5n], type: 'INT64' },
      { name: 'idx', data: [0, 1], type: 'INT32' },
    ],
  });

  const rte = await readGlueParquet(root, 'rte', 'train');
  assert.deepEqual(rte.examples[0], { task: 'rte', idx: 0, label: 1, text: { sentence1: 's1 a', sentence2: 's2 a' } });
  assert.equal(rte.examples.length, 3);
  assert.equal(detectGlueFormat(root, 'rte'), 'parquet');
  assert.equal((await readGlueSplit(root, 'rte', 'train')).examples.length, 3);
  const stsb = await readGlueParquet(root, 'stsb', 'validation');
  assert.deepEqual(stsb.examples.map((e) => e.label), [Math.fround(3.8), 2.5]);
  assert.equal(glueParquetFiles(root, 'mnli', 'validation_matched').length, 2);
  const mnli = await readGlueParquet(root, 'mnli', 'validation_matched');
  assert.deepEqual(mnli.examples.map((e) => [e.idx, e.label, e.text.premise, e.text.hypothesis]), [[0, 1, 'p0', 'h0'], [1, 2, 'p1', 'h1']]);
  const warnings: string[] = [];
  const cola = await readGlueParquet(root, 'cola', 'train', { onWarning: (m) => warnings.push(m) });
  assert.equal(cola.examples.length, 1);
  assert.equal(cola.skipped, 1);
  assert.match(warnings[0], /cola[\\/]train-00000-of-00001\.parquet: row 1: label 5 invalid for cola; row skipped/);
  await assert.rejects(readGlueParquet(root, 'sst2', 'train'), /no parquet files for sst2\/train/);
  await assert.rejects(readGlueParquet(root, 'stsb', 'train'), /no parquet files for stsb\/train/);
  fs.rmSync(root, { recursive: true });
});
