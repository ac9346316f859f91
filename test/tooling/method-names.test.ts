/**
 * A routing method owns its behaviour (kernel-lib/routing/method.ts): no library
 * file outside the places kernel-lib/README's "Adding a method" lists names a
 * registered method — its friendly or reference name as a string literal — so the
 * settings, models, trainer, workers, io, analysis and command line work for any
 * registered method, one added with `registerMethod` included
 * (test/settings/outside-method.test.ts). The README's list is read from the README
 * itself, so the recipe and this test cannot drift apart: every file it lists exists
 * and names methods, and a name anywhere else fails here, naming file and line.
 *
 * Comments are not code: they may name methods (the method files' equations, the
 * shape comments). Only string literals count, found with the TypeScript parser.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import { METHODS } from '../../kernel-lib/routing/registry';

const root = path.resolve(__dirname, '..', '..');

/**
 * The allow-list: a literal that equals a method name but is not one. Keep it short;
 * each entry says why the literal must stay.
 */
const ALLOWED: { file: string; literal: string; why: string }[] = [
  {
    file: 'kernel-lib/routing/types.ts',
    literal: 'dense',
    why: "RoutingKind 'dense' is a kind of combination (one adapter for every example), the routing vocabulary; the single-adapter method shares the word",
  },
];

/** The kernel-lib and test paths in backticks of the README's "Adding a method" section (`<name>`: any file name). */
function recipeFiles(): { pattern: string; re: RegExp }[] {
  const readme = fs.readFileSync(path.join(root, 'kernel-lib', 'README.md'), 'utf8');
  const start = readme.indexOf('### Adding a method');
  assert.ok(start >= 0, 'kernel-lib/README.md has a section "### Adding a method"');
  const rest = readme.slice(start + 1);
  const end = rest.search(/\n#{2,3} /);
  const section = end >= 0 ? rest.slice(0, end) : rest;
  const paths = [...section.matchAll(/`((?:kernel-lib|test)\/[^`\s]+)`/g)].map((m) => m[1]);
  assert.ok(paths.length > 0, 'the recipe lists the files one touches');
  return [...new Set(paths)].map((p) => ({ pattern: p, re: new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace('<name>', '[^/]+')}$`) }));
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Every string literal of a file that equals one of `names`, with its line. */
function namedLiterals(file: string, names: Set<string>): { line: number; literal: string }[] {
  const text = fs.readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2020, true);
  const out: { line: number; literal: string }[] = [];
  const visit = (node: ts.Node) => {
    if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) && names.has(node.text)) {
      out.push({ line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1, literal: node.text });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

test('no kernel-lib file outside the method recipe names a routing method', () => {
  const names = new Set(METHODS.flatMap((m) => [m.name, m.referenceName]));
  const recipe = recipeFiles();
  const hits: string[] = [];
  const namingFiles = new Set<string>();
  for (const file of tsFiles(path.join(root, 'kernel-lib'))) {
    const rel = path.relative(root, file).split(path.sep).join('/');
    const found = namedLiterals(file, names);
    if (found.length) namingFiles.add(rel);
    if (recipe.some((r) => r.re.test(rel))) continue;
    for (const f of found) {
      if (ALLOWED.some((a) => a.file === rel && a.literal === f.literal)) continue;
      hits.push(`${rel}:${f.line}: '${f.literal}'`);
    }
  }
  assert.deepEqual(hits, [], `method names outside the files of kernel-lib/README's "Adding a method" (declare the behaviour in the method's file instead):\n${hits.join('\n')}`);
  // The recipe is exact: each file it lists exists (one per method for <name>) and names methods.
  for (const r of recipe) {
    if (r.pattern.includes('<name>')) {
      const dir = path.join(root, path.dirname(r.pattern));
      const files = fs.readdirSync(dir).map((f) => `${path.dirname(r.pattern)}/${f}`).filter((f) => r.re.test(f));
      assert.equal(files.length, METHODS.length, `${r.pattern}: one file per registered method (${METHODS.length}), found ${files.length}`);
      for (const m of METHODS) assert.ok(files.some((f) => namedLiterals(path.join(root, f), new Set([m.name])).length > 0), `${r.pattern}: a file names '${m.name}'`);
    } else if (r.pattern.startsWith('kernel-lib/')) {
      assert.ok(fs.existsSync(path.join(root, r.pattern)), `${r.pattern} exists`);
      // It names methods, or (the registry) imports each method's file.
      const text = fs.readFileSync(path.join(root, r.pattern), 'utf8');
      const imports = (m: string) => text.includes(`from './methods/${m}'`);
      assert.ok(namingFiles.has(r.pattern) || METHODS.every((m) => imports(m.name)), `${r.pattern} names methods or imports their files (else the recipe lists a file one does not touch)`);
    } else {
      const text = fs.readFileSync(path.join(root, r.pattern), 'utf8');
      for (const m of METHODS) assert.ok(text.includes(`'${m.name}'`), `${r.pattern} covers '${m.name}'`);
    }
  }
  // Each allow-list entry is still needed.
  for (const a of ALLOWED) {
    assert.ok(namedLiterals(path.join(root, a.file), new Set([a.literal])).length > 0, `allow-list entry ${a.file} '${a.literal}' is no longer needed: remove it`);
  }
});
