/**
 * Fresh machine, two commands (issue 12, item 8): `npm test` (test/run.js) provisions the
 * Debian packages the notebook, figure and webgpu tests need (as root, or with `sudo -n`);
 * a user who can do neither is stopped before any test runs, with the exact command.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');

test('without root or sudo, missing Debian packages stop the tests before they start, with the command to run', (t) => {
  const isRoot = process.getuid?.() === 0;
  const runuser = ['/usr/sbin/runuser', '/sbin/runuser'].find((p) => fs.existsSync(p));
  if (process.platform !== 'linux' || spawnSync('dpkg-query', ['--version']).status !== 0) return t.skip('not a Debian system');
  if (!isRoot && spawnSync('sudo', ['-n', 'true']).status === 0) return t.skip('this user has sudo without a password (the packages would be installed)');
  if (isRoot && !runuser) return t.skip('root without runuser: cannot run as another user');
  const env = { ...process.env, SMEAR_TEST_DEBIAN_PACKAGES: 'smear-no-such-package chromium', SMEAR_TEST_NO_PROVISION: '' };
  const cmd = [process.execPath, path.join(root, 'test', 'run.js'), 'test/analysis/figures'];
  const r = isRoot ? spawnSync(runuser!, ['-u', 'nobody', '--', 'env', ...Object.entries({ SMEAR_TEST_DEBIAN_PACKAGES: env.SMEAR_TEST_DEBIAN_PACKAGES, SMEAR_TEST_NO_PROVISION: '' }).map(([k, v]) => `${k}=${v}`), ...cmd], { cwd: root, encoding: 'utf8', timeout: 60_000 }) : spawnSync(cmd[0], cmd.slice(1), { cwd: root, encoding: 'utf8', env, timeout: 60_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(
    r.stderr,
    'The tests need the Debian packages smear-no-such-package, which are not installed, and this user cannot install them (not root, no sudo without a password).\n' +
      'Run:\n  sudo apt-get update && sudo apt-get install -y smear-no-such-package\nthen the tests again.\n',
  );
  assert.equal(r.stdout, '', 'no test ran');
});

test('.ci/run keeps calling the README test command', () => {
  const ci = fs.readFileSync(path.join(root, '.ci', 'run'), 'utf8');
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const command = /## Test\n\n```sh\n([^\n]+)\n```/.exec(readme)?.[1];
  assert.equal(command, 'npm test');
  assert.match(ci, /^npm test$/m);
});
