/**
 * kernel-lib's layer order, checked from the imports. A module may import from
 * its own layer or a lower one, never from a higher one. This file holds the
 * layer table (kernel-lib/README.md "Layers" states the same order, and a test
 * below keeps the two equal).
 *
 * Every `import … from`, `export … from`, `import x = require()`, `require()`,
 * `import()` and `typeof import()` with a string-literal path in
 * kernel-lib/**\/*.ts and *.js is read with the TypeScript parser (comments and
 * strings that merely look like imports are not imports). Relative paths are
 * resolved and mapped to a layer by their top-level folder under kernel-lib/
 * (or `index.ts`, the public API); package imports are not checked. A path
 * that leaves kernel-lib (into test/, bench/, …) is a violation too.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import * as ts from 'typescript';

const lib = path.resolve(__dirname, '..', '..', 'kernel-lib');

/** Lowest first. A member is a top-level folder of kernel-lib/ or a file at its root. */
const LAYERS: readonly { members: readonly string[]; what: string }[] = [
  { members: ['util'], what: 'generators, Python-exact random, JSON, plain-text tables' },
  { members: ['io', 'backend', 'tokenizers'], what: 'files and safetensors; the TensorFlow.js backend; tokenizers' },
  { members: ['routing', 'train', 'datasets', 'metrics'], what: 'routing blocks and methods; the Trainer; data sets; their metrics (GLUE metrics are defined per task of datasets/glue)' },
  { members: ['models'], what: 'ResNet18 and T5 with routing blocks' },
  { members: ['analysis'], what: 'routing statistics, run folders read back, figures and tables' },
  { members: ['settings'], what: 'the two settings: configurations, tasks, runs, reproductions' },
  { members: ['index.ts'], what: 'the public API (re-exports)' },
  { members: ['cli', 'notebook'], what: 'the command line and the tslab notebook helpers' },
];

function layerOf(member: string): number {
  return LAYERS.findIndex((l) => l.members.includes(member));
}

/** Every module path a source file imports, with the line it is on. */
function importsOf(source: string, fileName: string): { spec: string; line: number }[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.ES2020, true, fileName.endsWith('.js') ? ts.ScriptKind.JS : ts.ScriptKind.TS);
  const out: { spec: string; line: number }[] = [];
  const add = (node: ts.Node | undefined) => {
    if (node && ts.isStringLiteralLike(node)) out.push({ spec: node.text, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1 });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node.moduleReference.expression);
    else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const isRequire = ts.isIdentifier(callee) && callee.text === 'require';
      const isRequireResolve = ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression) && callee.expression.text === 'require' && callee.name.text === 'resolve';
      if (isRequire || isRequireResolve || callee.kind === ts.SyntaxKind.ImportKeyword) add(node.arguments[0]);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** The layer-table member a path inside `root` belongs to (`root` itself resolves to index.ts). */
function memberOf(root: string, abs: string): string {
  const rel = path.relative(root, abs).split(path.sep).join('/');
  if (rel === '' || rel === 'index' || rel === 'index.ts') return 'index.ts';
  const [first, ...rest] = rel.split('/');
  return rest.length === 0 && !fs.existsSync(path.join(root, first)) && fs.existsSync(path.join(root, `${first}.ts`)) ? `${first}.ts` : first;
}

function sources(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .sort((x, y) => (x.name < y.name ? -1 : 1))
    .flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : /\.(ts|js)$/.test(e.name) ? [p] : [];
  });
}

/** Every import under `root` (kernel-lib) that goes up the layer order or out of `root`, one line each. */
function layerViolations(root = lib): string[] {
  const problems: string[] = [];
  for (const file of sources(root)) {
    const rel = path.relative(root, file).split(path.sep).join('/');
    const from = memberOf(root, file);
    const a = layerOf(from);
    if (a < 0) {
      problems.push(`kernel-lib/${rel}: '${from}' is in no layer (add it to LAYERS in test/tooling/layers.test.ts and to kernel-lib/README.md "Layers")`);
      continue;
    }
    for (const { spec, line } of importsOf(fs.readFileSync(file, 'utf8'), file)) {
      if (!spec.startsWith('.')) continue; // a package
      const target = path.resolve(path.dirname(file), spec);
      if (target !== root && !target.startsWith(root + path.sep)) {
        problems.push(`kernel-lib/${rel}:${line}: imports '${spec}', outside kernel-lib (${path.relative(path.dirname(root), target).split(path.sep).join('/')})`);
        continue;
      }
      const to = memberOf(root, target);
      const b = layerOf(to);
      if (b < 0) problems.push(`kernel-lib/${rel}:${line}: imports '${spec}' from '${to}', which is in no layer`);
      else if (b > a) problems.push(`kernel-lib/${rel}:${line}: imports '${spec}': ${from} is layer ${a} (${LAYERS[a].members.join(', ')}), ${to} is layer ${b} (${LAYERS[b].members.join(', ')}), a higher one`);
    }
  }
  return problems;
}

describe('kernel-lib layers', () => {
  it('no module imports from a higher layer', () => {
    const problems = layerViolations();
    assert.deepEqual(problems, [], `imports that go up the layer order:\n${problems.join('\n')}`);
  });

  it('every top-level folder and root file of kernel-lib is in the layer table once', () => {
    const present = fs
      .readdirSync(lib, { withFileTypes: true })
      .filter((e) => (e.isDirectory() && sources(path.join(lib, e.name)).length > 0) || /\.(ts|js)$/.test(e.name))
      .map((e) => e.name)
      .sort();
    const listed = LAYERS.flatMap((l) => l.members);
    assert.equal(new Set(listed).size, listed.length, 'a member is listed twice');
    assert.deepEqual([...listed].sort(), present);
  });

  it('kernel-lib/README.md "Layers" states the same order', () => {
    const readme = fs.readFileSync(path.join(lib, 'README.md'), 'utf8');
    const section = readme.split('\n## Layers\n')[1]?.split('\n## ')[0];
    assert.ok(section, 'kernel-lib/README.md has a "## Layers" section');
    const rows = section
      .split('\n')
      .map((l) => /^\| (\d+) \| ([^|]*) \|/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ layer: Number(m[1]), members: [...m[2].matchAll(/`([^`]+?)\/?`/g)].map((x) => x[1]) }));
    assert.deepEqual(
      rows,
      LAYERS.map((l, i) => ({ layer: i, members: [...l.members] })),
    );
  });

  it('the checker finds every kind of import and names file, import and both layers', () => {
    const src = [
      "import { a } from './a';",
      "import type { B } from '../b';",
      "export * from './c';",
      "export { d } from './d';",
      "import e = require('./e');",
      "const f = require('./f');",
      "const g = require.resolve('./g');",
      "const h = import('./h');",
      "type I = typeof import('./i');",
      "import 'pkg';",
      "// import { no } from './comment';",
      "const s = \"import { no } from './string'\";",
    ].join('\n');
    assert.deepEqual(
      importsOf(src, 'x.ts').map((i) => `${i.line}:${i.spec}`),
      ['1:./a', '2:../b', '3:./c', '4:./d', '5:./e', '6:./f', '7:./g', '8:./h', '9:./i', '10:pkg'],
    );
    assert.deepEqual(importsOf("const m = require('../cli/table'); // require('./not')", 'y.js').map((i) => i.spec), ['../cli/table']);

    // A scratch library (outside the repository): a lower layer importing a higher one, a path
    // out of the library, a folder in no layer; imports down and across a layer pass.
    const root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'layers-test-')), 'kernel-lib');
    const write = (rel: string, text: string) => {
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      fs.writeFileSync(path.join(root, rel), text);
    };
    write('util/x.ts', "import { m } from '../cli/commands/methods';\nimport type { X } from '../../test/x';\nimport { ok } from './json';\n");
    write('models/y.ts', "import { r } from '../routing/block';\nimport { t } from '../train/trainer';\nimport { ix } from '..';\n");
    write('routing/z.ts', "import { d } from '../datasets/glue/tasks';\n");
    write('plugins/w.ts', '');
    try {
      assert.deepEqual(layerViolations(root), [
        "kernel-lib/models/y.ts:3: imports '..': models is layer 3 (models), index.ts is layer 6 (index.ts), a higher one",
        "kernel-lib/plugins/w.ts: 'plugins' is in no layer (add it to LAYERS in test/tooling/layers.test.ts and to kernel-lib/README.md \"Layers\")",
        "kernel-lib/util/x.ts:1: imports '../cli/commands/methods': util is layer 0 (util), cli is layer 7 (cli, notebook), a higher one",
        "kernel-lib/util/x.ts:2: imports '../../test/x', outside kernel-lib (test/x)",
      ]);
    } finally {
      fs.rmSync(path.dirname(root), { recursive: true, force: true });
    }
  });
});
