/**
 * kernel-lib/docs/reference-code.md is the project's account of the reference code (github
 * r-three/smear). Code comments point into it as `kernel-lib/docs/reference-code.md#<section>`
 * (further sections of the same pointer as `, #<section>`); these tests keep every pointer landing
 * on a heading, every kernel-lib path the notes name existing, each entry saying where in the
 * reference and where in the port, and no comment citing a document the repository does not have.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const notesFile = path.join(root, 'kernel-lib', 'docs', 'reference-code.md');
const notes = fs.readFileSync(notesFile, 'utf8');
const self = path.relative(root, __filename);

/** The anchor GitHub gives a Markdown heading. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The repository's own text files: kernel-lib, test, bench, notebooks and the top-level READMEs. */
function textFiles(): string[] {
  const walk = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) return e.name === 'node_modules' || e.name.startsWith('.') ? [] : walk(p);
      return /\.(ts|js|py|md|ipynb|json|sh)$/.test(e.name) ? [p] : [];
    });
  return [...['kernel-lib', 'test', 'bench', 'notebooks'].flatMap((d) => walk(path.join(root, d))), path.join(root, 'README.md'), path.join(root, 'data', 'README.md')]
    .filter((f) => fs.existsSync(f))
    .map((f) => path.relative(root, f));
}

const headings = new Set(notes.split('\n').flatMap((l) => (/^#{2,3} (.+)$/.exec(l) ? [slug(/^#{2,3} (.+)$/.exec(l)![1])] : [])));

describe('reference notes (kernel-lib/docs/reference-code.md)', () => {
  it('every pointer into the notes lands on one of their headings', () => {
    const bad: string[] = [];
    let pointers = 0;
    for (const rel of textFiles()) {
      const text = fs.readFileSync(path.join(root, rel), 'utf8');
      for (const m of text.matchAll(/reference-code\.md#[\w-]+(?:,\s*(?:\*\s*)?#[\w-]+)*/g)) {
        const line = text.slice(0, m.index).split('\n').length;
        for (const a of m[0].matchAll(/#([\w-]+)/g)) {
          pointers++;
          if (!headings.has(a[1])) bad.push(`${rel}:${line}: #${a[1]}`);
        }
      }
      // In-page links of the notes themselves.
      if (path.join(root, rel) === notesFile) {
        for (const m of text.matchAll(/\]\(#([\w-]+)\)/g)) if (!headings.has(m[1])) bad.push(`${rel}: (#${m[1]})`);
      }
    }
    assert.deepEqual(bad, [], `pointers to sections the notes do not have:\n${bad.join('\n')}`);
    assert.ok(pointers >= 60, `expected the code's comments to point into the notes (found ${pointers} pointers)`);
  });

  it('no file cites a specification the repository does not hold', () => {
    const hits: string[] = [];
    for (const rel of textFiles()) {
      if (rel === self) continue;
      fs.readFileSync(path.join(root, rel), 'utf8')
        .split('\n')
        .forEach((l, i) => {
          if (/\bSPEC\b|SMEAR-SPEC|\bbrief §/.test(l)) hits.push(`${rel}:${i + 1}: ${l.trim()}`);
        });
    }
    assert.deepEqual(hits, [], `cite kernel-lib/docs/reference-code.md instead:\n${hits.join('\n')}`);
  });

  it('every kernel-lib path the notes name exists', () => {
    const folders = fs.readdirSync(path.join(root, 'kernel-lib'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    const named = [...notes.matchAll(/`([\w-]+\/[\w./-]+)`/g)].map((m) => m[1]).filter((p) => folders.includes(p.split('/')[0]));
    assert.ok(named.length > 40, `expected the notes to name the port's files (found ${named.length})`);
    const missing = [...new Set(named)].filter((p) => !fs.existsSync(path.join(root, 'kernel-lib', p)));
    assert.deepEqual(missing, []);
  });

  it('every entry says where in the reference and where in the port', () => {
    const entries = notes.split('\n### ').slice(1).map((s) => ({ title: s.split('\n')[0], body: s }));
    assert.ok(entries.length >= 40, `expected the notes' entries (found ${entries.length})`);
    const incomplete = entries.filter((e) => e.title !== 'Not ported' && !(/\nReference: /.test(e.body) && /\*\*Port:\*\*/.test(e.body))).map((e) => e.title);
    assert.deepEqual(incomplete, []);
    const referencePaths = [...notes.matchAll(/`((?:hyperformer|cvl)\/[\w./-]+)`/g)].map((m) => m[1]);
    assert.ok(referencePaths.length > 30 && referencePaths.every((p) => /^(hyperformer\/(README\.md|hyperformer\/)|cvl\/(README\.md|src\/))/.test(p)), 'reference paths are full paths inside r-three/smear');
  });
});
