/**
 * Property-based (fast-check): the readers of user files either return valid
 * data or throw an Error whose message names the file, and never crash with
 * something else or hang, on random mutations of valid files (issue 12,
 * item 7). Mutations: bytes flipped, replaced, inserted or deleted, the file
 * cut short or doubled, and for the text formats the separators (tab, space,
 * newline, CR, BOM, '.', '-') that the parsers split on inserted anywhere.
 *
 *   safetensors   parseSafetensors / readSafetensors (io/safetensors.ts)
 *   DomainNet     parseListText / readList (datasets/domainnet/lists.ts)
 *   GLUE TSV      readGlueTsv (datasets/glue/readers.ts), RTE and STS-B layouts
 *
 * Needs the devDependency fast-check (npm ci).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { DTYPE_SIZES, encodeSafetensors, parseSafetensors, readSafetensors } from '../../kernel-lib/io/safetensors';
import { parseListText, readList } from '../../kernel-lib/datasets/domainnet/lists';
import { readGlueTsv } from '../../kernel-lib/datasets/glue/readers';
import { glueTask } from '../../kernel-lib/datasets/glue/tasks';

const RUNS = Number(process.env.SMEAR_PROPERTY_RUNS ?? 300);
/** A call slower than this on a file of a few hundred bytes counts as a hang. */
const SLOW_MS = 2000;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smear-property-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'double' };

const TEXT_BYTES = [0x09, 0x20, 0x0a, 0x0d, 0x2e, 0x2d, 0x22, 0x30, 0x35, 0x39, 0xef, 0xbb, 0xbf, 0x00, 0xff];

/** Mutations at positions given as fractions of the file's length (so they fit any file). */
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...TEXT_BYTES)) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), bytes: fc.array(fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...TEXT_BYTES)), { minLength: 1, maxLength: 6 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), length: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.constant({ kind: 'double' as const }),
) as fc.Arbitrary<Mutation>;

function mutate(bytes: Uint8Array, ms: Mutation[]): Buffer {
  let b = Buffer.from(bytes);
  for (const m of ms) {
    const at = 'at' in m ? Math.min(b.length, Math.floor(m.at * b.length)) : 0;
    switch (m.kind) {
      case 'flip':
        if (at < b.length) b[at] ^= 1 << m.bit;
        break;
      case 'set':
        if (at < b.length) b[at] = m.byte;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.length)]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'double':
        b = Buffer.concat([b, b]);
        break;
    }
  }
  return b;
}

const mutations = fc.array(mutation, { minLength: 1, maxLength: 4 });

/** Runs `read`; returns its value, or checks that what it threw is an Error naming `file`. */
async function readOrNamedError<T>(file: string, read: () => T | Promise<T>): Promise<T | undefined> {
  const t0 = Date.now();
  try {
    return await read();
  } catch (e) {
    assert.ok(e instanceof Error, `threw a non-Error: ${String(e)}`);
    assert.ok(!(e instanceof TypeError) && !(e instanceof RangeError) && !(e instanceof ReferenceError), `crashed with ${e.name}: ${e.message}\n${e.stack}`);
    assert.ok(e.message.includes(file), `the message names ${file}: ${e.message}`);
    return undefined;
  } finally {
    assert.ok(Date.now() - t0 < SLOW_MS, `took ${Date.now() - t0} ms`);
  }
}

describe('readers on random mutations of valid files (fast-check)', () => {
  it('safetensors: a valid file or an Error naming the file', async () => {
    const valid = Buffer.concat(
      encodeSafetensors(
        {
          'layer.weight': { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
          'layer.bias': { dtype: 'F16', shape: [3], data: Float32Array.from([0.5, -1, 2]) },
          steps: { dtype: 'I64', shape: [1], data: Int32Array.from([7]) },
          mask: { dtype: 'BOOL', shape: [2], data: Uint8Array.from([1, 0]) },
        },
        { 'smear.method': 'smear' },
      ),
    );
    assert.equal(parseSafetensors(valid, 'valid').tensors.size, 4);
    const file = path.join(dir, 'model.safetensors');
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(mutations, async (ms) => {
        const bytes = mutate(valid, ms);
        fs.writeFileSync(file, bytes);
        const parsed = await readOrNamedError(file, () => readSafetensors(file));
        if (parsed === undefined) return;
        accepted++;
        for (const [name, t] of parsed.tensors) {
          assert.ok(t.dtype in DTYPE_SIZES, `${name}: dtype ${t.dtype}`);
          assert.ok(t.shape.every((d) => Number.isSafeInteger(d) && d >= 0), `${name}: shape ${t.shape}`);
          assert.equal(t.data.length, t.shape.reduce((a, d) => a * d, 1), `${name}: data holds the shape's elements`);
        }
        for (const v of Object.values(parsed.metadata)) assert.equal(typeof v, 'string');
      }),
      { numRuns: RUNS },
    );
    process.stderr.write(`[property] safetensors: ${accepted} of ${RUNS} mutated files were still valid\n`);
  });

  it('DomainNet list: entries that are valid, problems naming file:line, and readList an Error naming the file', async () => {
    const NUM_CLASSES = 345;
    const valid = ['clipart/aircraft_carrier/clipart_001.jpg 0', 'clipart/zebra/clipart_002.jpg 344', '', 'clipart/cat/clipart_003.png 57', 'clipart/cat/clipart_004.png 57'].join('\n') + '\n';
    const file = path.join(dir, 'clipart_train.txt');
    await fc.assert(
      fc.asyncProperty(mutations, async (ms) => {
        const bytes = mutate(Buffer.from(valid), ms);
        const text = bytes.toString('utf8');
        const t0 = Date.now();
        const { entries, problems } = parseListText(text, file, NUM_CLASSES);
        assert.ok(Date.now() - t0 < SLOW_MS);
        const nLines = text.replace(/\r\n?/g, '\n').split('\n').length;
        for (const e of entries) {
          assert.ok(Number.isInteger(e.label) && e.label >= 0 && e.label < NUM_CLASSES, `label ${e.label}`);
          assert.ok(e.relPath !== '' && !/\s/.test(e.relPath) && !path.isAbsolute(e.relPath) && !e.relPath.split(/[\\/]/).includes('..'), `path ${e.relPath}`);
          assert.ok(e.line >= 1 && e.line <= nLines);
        }
        for (const p of problems) {
          assert.equal(p.file, file);
          assert.ok(p.line >= 1 && p.line <= nLines, `line ${p.line} of ${nLines}`);
          assert.ok(p.message.length > 0);
        }
        fs.writeFileSync(file, bytes);
        const read = await readOrNamedError(file, () => readList(file, NUM_CLASSES));
        if (read !== undefined) assert.deepEqual(read, entries);
        else assert.ok(problems.length > 0, 'readList fails only on a problem line');
      }),
      { numRuns: RUNS },
    );
  });

  for (const [task, dirName, lines] of [
    ['rte', 'RTE', ['index\tsentence1\tsentence2\tlabel', '0\tA man is here.\tSomeone is here.\tentailment', '1\tNo one came.\tEveryone came.\tnot_entailment', '2\tIt rains.\tIt is wet.\t0']],
    [
      'stsb',
      'STS-B',
      [
        'index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore',
        '0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA plane is taking off.\tAn air plane is taking off.\t5.000',
        '1\tmain-captions\tMSRvid\t2012test\t0004\tnone\tnone\tA man is playing a flute.\tA man plays a flute.\t3.800',
        '2\tmain-forums\tdeft\t2014\t0005\tnone\tnone\tx\ty\t0.0',
      ],
    ],
  ] as const) {
    it(`GLUE TSV (${dirName}): examples valid for the task, or an Error naming the file; skipped rows named by file:line`, async () => {
      const info = glueTask(task);
      const root = fs.mkdtempSync(path.join(dir, 'glue-'));
      const file = path.join(root, dirName, 'train.tsv');
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const valid = Buffer.from(lines.join('\n') + '\n');
      fs.writeFileSync(file, valid);
      assert.equal(readGlueTsv(root, task, 'train', { onWarning: () => undefined }).examples.length, 3);
      await fc.assert(
        fc.asyncProperty(mutations, async (ms) => {
          fs.writeFileSync(file, mutate(valid, ms));
          const warnings: string[] = [];
          const r = await readOrNamedError(file, () => readGlueTsv(root, task, 'train', { onWarning: (m) => warnings.push(m) }));
          if (r === undefined) return;
          for (const e of r.examples) {
            assert.equal(e.task, task);
            assert.ok(Number.isInteger(e.idx) && e.idx >= 0);
            if (info.labelType === 'classification') assert.ok(Number.isInteger(e.label) && e.label >= 0 && e.label < info.numLabels, `label ${e.label}`);
            else assert.ok(Number.isFinite(e.label) && e.label >= 0 && e.label <= 5, `score ${e.label}`);
            assert.deepEqual(Object.keys(e.text), [...info.textKeys]);
            for (const k of info.textKeys) assert.equal(typeof e.text[k], 'string');
          }
          assert.equal(r.problems.length, r.skipped);
          for (const p of r.problems) assert.ok(p.file === file && Number.isInteger(p.line) && p.line! >= 2, JSON.stringify(p));
          for (const w of warnings) assert.ok(w.includes(file), w);
        }),
        { numRuns: RUNS },
      );
    });
  }
});
