#!/usr/bin/env node
// Runs every test file under test/ with node's built-in test runner and the tsx loader.
// Usage: node test/run.js [substring filter...]
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : e.name.endsWith('.test.ts') ? [p] : [];
  });
}
const filters = process.argv.slice(2);
const files = walk(path.join(__dirname)).sort().filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
// Derived files (DomainNet folds of the tests' data sets) go to a cache of this run, removed at the end.
const cache = process.env.SMEAR_CACHE_DIR ? null : fs.mkdtempSync(path.join(require('os').tmpdir(), 'smear-test-cache-'));
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env: { ...process.env, SMEAR_QUIET: '1', ...(cache ? { SMEAR_CACHE_DIR: cache } : {}) },
});
if (cache) fs.rmSync(cache, { recursive: true, force: true });
process.exit(r.status === null ? 1 : r.status);
