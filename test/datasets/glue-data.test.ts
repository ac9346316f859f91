import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readGlueTsv, readGlueParquet, readGlueSplit, detectGlueFormat, glueParquetFiles } from '../../kernel-lib/datasets/glue/readers';
import { GLUE_TASKS, GLUE_TASK_INFO, glueTask, glueTaskIndex } from '../../kernel-lib/datasets/glue/tasks';
import { importEsm } from '../../kernel-lib/tokenizers/esm';
import { checkGlue, formatGlueCheckReport } from '../../kernel-lib/datasets/glue/check';
import { dataCommand } from '../../kernel-lib/cli/commands/data';

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
  // STS-B scores outside [0, 5]: skipped, named (file:line, the value, the range); the edges are kept
  write(path.join(root, 'STS-B/train.tsv'), [
    'index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore',
    ...['5.5', '-0.2', '0', '5.000', '12', '1e1'].map((v, i) => `${i}\tg\tf\ty\t0\tn\tn\ta\tb\t${v}`),
  ]);
  const w4: string[] = [];
  const stsb = readGlueTsv(root, 'stsb', 'train', { onWarning: (m) => w4.push(m) });
  assert.deepEqual(stsb.examples.map((e) => e.label), [0, 5]);
  assert.deepEqual(stsb.problems.map((p) => [p.line, p.message]), [
    [2, 'score 5.5 is outside [0, 5] (the stsb similarity range)'],
    [3, 'score -0.2 is outside [0, 5] (the stsb similarity range)'],
    [6, 'score 12 is outside [0, 5] (the stsb similarity range)'],
    [7, 'score 10 is outside [0, 5] (the stsb similarity range)'],
  ]);
  assert.match(w4[0], /STS-B[\\/]train\.tsv:2: score 5\.5 is outside \[0, 5\].*; row skipped/);
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
  // STS-B scores outside [0, 5] in parquet: skipped and named by file and row
  await w.parquetWriteFile({
    filename: path.join(root, 'stsb', 'train-00000-of-00001.parquet'),
    columnData: [
      { name: 'sentence1', data: ['a', 'b', 'c'], type: 'STRING' },
      { name: 'sentence2', data: ['c', 'd', 'e'], type: 'STRING' },
      { name: 'label', data: [4.5, 7, -1], type: 'FLOAT' },
      { name: 'idx', data: [0, 1, 2], type: 'INT32' },
    ],
  });
  const sw: string[] = [];
  const st = await readGlueParquet(root, 'stsb', 'train', { onWarning: (m) => sw.push(m) });
  assert.deepEqual(st.examples.map((e) => e.label), [4.5]);
  assert.deepEqual(st.problems.map((p) => [path.basename(p.file), p.row, p.message]), [
    ['train-00000-of-00001.parquet', 1, 'score 7 is outside [0, 5] (the stsb similarity range)'],
    ['train-00000-of-00001.parquet', 2, 'score -1 is outside [0, 5] (the stsb similarity range)'],
  ]);
  assert.match(sw[0], /stsb[\\/]train-00000-of-00001\.parquet: row 1: score 7 is outside \[0, 5\]/);
  // a text file named .parquet: an Error naming the file (was "parquet file invalid (footer != PAR1)" alone)
  const text = path.join(root, 'sst2', 'train-00000-of-00001.parquet');
  fs.mkdirSync(path.dirname(text), { recursive: true });
  fs.writeFileSync(text, 'sentence\tlabel\nnot parquet at all\t1\n');
  await assert.rejects(readGlueParquet(root, 'sst2', 'train'), (e: Error) => {
    assert.ok(e.message.includes(text), e.message);
    assert.match(e.message, /\(36 bytes\) is not a readable parquet file \(sst2\/train\): parquet file invalid \(footer != PAR1\)/);
    return true;
  });
  fs.rmSync(root, { recursive: true });
});

async function captureCli(values: Record<string, string | boolean>): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const ow = process.stdout.write;
  const ew = process.stderr.write;
  process.stdout.write = ((c: string) => ((stdout += c), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string) => ((stderr += c), true)) as typeof process.stderr.write;
  try {
    return { code: await dataCommand.run({ values, positionals: ['check'] }), stdout, stderr };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

test('smear data check --setting t5: a complete GLUE folder is clean, with the same report as DomainNet', async () => {
  const root = tmp();
  writeGlueTsvFixture(root);
  const r = await checkGlue(root);
  assert.equal(r.ok, true, formatGlueCheckReport(r));
  assert.equal(r.splits.length, 17); // 7 tasks × train, validation + MNLI × 3
  assert.deepEqual(
    r.splits.filter((x) => x.task === 'mnli' || x.task === 'stsb').map((x) => [x.task, x.split, x.format, x.examples, x.labels, x.skipped]),
    [
      ['stsb', 'train', 'tsv', 2, `${Math.fround(3.8)}–5`, 0],
      ['stsb', 'validation', 'tsv', 1, `${Math.fround(0.1)}–${Math.fround(0.1)}`, 0],
      ['mnli', 'train', 'tsv', 3, '3 of 3', 0],
      ['mnli', 'validation_matched', 'tsv', 1, '1 of 3', 0],
      ['mnli', 'validation_mismatched', 'tsv', 1, '1 of 3', 0],
    ],
  );
  const cli = await captureCli({ setting: 't5', data: root });
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /^GLUE at .* \(8 tasks: rte, sst2, mrpc, stsb, qqp, mnli, qnli, cola\)/);
  assert.match(cli.stdout, /task\s+split\s+format\s+file\s+examples\s+labels\s+skipped/);
  assert.match(cli.stdout, /rte\s+validation\s+tsv\s+RTE[\\/]dev\.tsv\s+7\s+2 of 2\s+0/);
  assert.match(cli.stdout, /OK: no problems found\./);
  fs.rmSync(root, { recursive: true });
});

test('smear data check --setting t5 fails on missing task data, an empty split, bad rows, STS-B scores outside [0, 5] and a wrong header', async () => {
  const root = tmp();
  writeGlueTsvFixture(root);
  fs.rmSync(path.join(root, 'QQP'), { recursive: true }); // a task with no data
  fs.rmSync(path.join(root, 'MNLI', 'dev_mismatched.tsv')); // a missing split file
  write(path.join(root, 'RTE/dev.tsv'), ['index\tsentence1\tsentence2\tlabel']); // header only: no examples
  fs.appendFileSync(path.join(root, 'STS-B/train.tsv'), '2\tg\tf\ty\t0\tn\tn\ta\tb\t5.4\n');
  fs.appendFileSync(path.join(root, 'SST-2/train.tsv'), 'a stray\ttab\t1\n');
  write(path.join(root, 'QNLI/dev.tsv'), ['index\tquestion\tsentence\tlabels', '0\tq\ts\tentailment']);
  write(path.join(root, 'CoLA/train.tsv'), ['gj04\tmaybe\t\tx', 'gj04\t7\t*\ty']); // every row bad
  const r = await checkGlue(root);
  assert.equal(r.ok, false);
  assert.deepEqual(r.missingFiles.map((m) => [m.task, m.kind, path.relative(root, m.path.split(' ')[0])]), [
    ['qqp', 'task data', path.join('QQP', '*.tsv')],
    ['mnli', 'split file', path.join('MNLI', 'dev_mismatched.tsv')],
  ]);
  assert.deepEqual(r.badRows.map((b) => [path.relative(root, b.file), b.line, b.message.split(' (')[0]]), [
    [path.join('SST-2', 'train.tsv'), 5, 'expected 2 tab-separated columns, found 3'],
    [path.join('STS-B', 'train.tsv'), 4, 'score 5.4 is outside [0, 5]'],
    [path.join('CoLA', 'train.tsv'), 1, 'label "maybe" is not one of unacceptable, acceptable, 0, 1'],
    [path.join('CoLA', 'train.tsv'), 2, 'label "7" is not one of unacceptable, acceptable, 0, 1'],
  ]);
  assert.deepEqual(r.emptySplits.map((e) => [e.task, e.split, e.reason]), [
    ['rte', 'validation', 'no examples: the file holds no rows'],
    ['cola', 'train', 'no examples: all 2 rows are bad (see the bad rows)'],
  ]);
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0], /QNLI[\\/]dev\.tsv:1: header for qnli should be index, question, sentence, label; got index, question, sentence, labels/);
  assert.equal(r.problems, 2 + 4 + 2 + 1);
  const text = formatGlueCheckReport(r);
  assert.match(text, /missing files \(2\):\n {2}task data\s+\S+QQP[\\/]\*\.tsv or \S+qqp[\\/]\*\.parquet/);
  assert.match(text, /bad rows \(skipped when training\) \(4\):\n.*SST-2[\\/]train\.tsv:5: expected 2/);
  assert.match(text, /STS-B[\\/]train\.tsv:4: score 5\.4 is outside \[0, 5\]/);
  assert.match(text, /empty splits \(2\):/);
  assert.match(text, /9 problems found\./);
  const cli = await captureCli({ setting: 't5', data: root, json: true, tasks: 'stsb,rte' });
  assert.equal(cli.code, 1);
  const json = JSON.parse(cli.stdout);
  assert.deepEqual(json.tasks, ['stsb', 'rte']);
  assert.equal(json.problems, 2);
  // a folder with the tasks' folders but every file empty: every task reported without examples
  const bare = tmp();
  write(path.join(bare, 'CoLA/train.tsv'), []);
  fs.writeFileSync(path.join(bare, 'CoLA/train.tsv'), '');
  fs.writeFileSync(path.join(bare, 'CoLA/dev.tsv'), '');
  const b = await checkGlue(bare, { tasks: ['cola'] });
  assert.deepEqual(b.emptyTasks, ['cola']);
  assert.match(formatGlueCheckReport(b), /tasks without any example: cola/);
  for (const [values, re] of [
    [{ setting: 't5', data: root, tasks: 'rte,wnli' }, /option 'tasks' has unknown task "wnli"/],
    [{ setting: 't5', data: root, decode: true }, /option --decode applies to --setting resnet \(DomainNet\) only/],
    [{ setting: 'resnet', data: root, tasks: 'rte' }, /option --tasks applies to --setting t5 \(GLUE\) only/],
    [{ setting: 't5' }, /option --data <GLUE folder> is required/],
  ] as const) {
    const c = await captureCli(values as Record<string, string | boolean>);
    assert.equal(c.code, 2, JSON.stringify(values));
    assert.match(c.stderr, re);
  }
  const none = await captureCli({ setting: 't5', data: path.join(root, 'nowhere') });
  assert.equal(none.code, 1);
  assert.match(none.stdout, /root folder\s+\S+nowhere/);
  fs.rmSync(root, { recursive: true });
  fs.rmSync(bare, { recursive: true });
});
