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

// The Debian packages the notebook, figure and webgpu tests need. On a fresh Debian machine they
// are installed here (as root, or with `sudo -n`), so that the README's test command passes as
// printed; where that is not possible the run stops before testing with the exact command.
const DEBIAN_PACKAGES = process.env.SMEAR_TEST_DEBIAN_PACKAGES ? process.env.SMEAR_TEST_DEBIAN_PACKAGES.split(' ') : ['jupyter-nbconvert', 'python3-nbclient', 'python3-ipykernel', 'chromium', 'libvulkan1'];
const NEEDS_PACKAGES = /[\\/](notebooks|backend|analysis)[\\/]/;
function provision() {
  if (process.env.SMEAR_TEST_NO_PROVISION || process.platform !== 'linux' || !files.some((f) => NEEDS_PACKAGES.test(f))) return;
  const has = (cmd, args) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
  if (!has('dpkg-query', ['--version'])) return; // not Debian: the README lists what to install
  const missing = DEBIAN_PACKAGES.filter((p) => {
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' });
    return r.status !== 0 || !/install ok installed/.test(r.stdout);
  });
  if (missing.length === 0) return;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const sudo = root ? [] : has('sudo', ['-n', 'true']) ? ['sudo', '-n'] : null;
  const command = `sudo apt-get update && sudo apt-get install -y ${missing.join(' ')}`;
  if (sudo === null) {
    console.error(`The tests need the Debian packages ${missing.join(', ')}, which are not installed, and this user cannot install them (not root, no sudo without a password).\nRun:\n  ${command}\nthen the tests again.`);
    process.exit(1);
  }
  console.error(`[test] installing the Debian packages the tests need: ${missing.join(' ')}`);
  const run = (args) => {
    const [cmd, ...rest] = [...sudo, ...args];
    const r = spawnSync(cmd, rest, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) {
      console.error(`[test] ${[...sudo, ...args].join(' ')} failed (exit ${r.status}); install them by hand:\n  ${command}`);
      process.exit(1);
    }
  };
  run(['apt-get', 'update', '-qq']);
  run(['apt-get', 'install', '-y', '-qq', ...missing]);
}
provision();
// Derived files (DomainNet folds of the tests' data sets) go to a cache of this run, removed at the end.
const cache = process.env.SMEAR_CACHE_DIR ? null : fs.mkdtempSync(path.join(require('os').tmpdir(), 'smear-test-cache-'));
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env: { ...process.env, SMEAR_QUIET: '1', ...(cache ? { SMEAR_CACHE_DIR: cache } : {}) },
});
if (cache) fs.rmSync(cache, { recursive: true, force: true });
process.exit(r.status === null ? 1 : r.status);
