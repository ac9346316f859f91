/**
 * No synchronous device reads in the library (they throw on webgpu in Node and stall any GPU):
 * `dataSync`, `arraySync` and `bufferSync` appear only where they are allowed, each for a reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const lib = path.resolve(__dirname, '..', '..', 'kernel-lib');
const ALLOWED: Record<string, string> = {
  'backend/host-read.ts': 'hostValuesOf: public-API tensors on CPU backends, refused on webgpu',
  'backend/webgpu.ts': 'documents why the library avoids them (comment only)',
};

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('kernel-lib reads tensors asynchronously (backend/host-read.ts), except in the wasm kernel fills', () => {
  const hits: string[] = [];
  for (const file of walk(lib)) {
    const rel = path.relative(lib, file).split(path.sep).join('/');
    if (rel.startsWith('backend/wasm-fills/') || ALLOWED[rel]) continue; // wasm kernels read their own heap synchronously
    fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
      if (/\b(dataSync|arraySync|bufferSync)\s*\(/.test(line)) hits.push(`${rel}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(hits, [], `synchronous reads (use await t.data() or readMany from backend/host-read.ts):\n${hits.join('\n')}`);
});
