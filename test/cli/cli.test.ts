/** The `smear` command line as a user runs it (through the package bin). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const bin = path.join(root, 'kernel-lib', 'cli', 'bin.js');

function smear(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, ...env } });
}

describe('smear CLI', () => {
  it('methods --json lists all 12 methods with reference names, kinds and configurations', () => {
    const r = smear(['methods', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const list = JSON.parse(r.stdout);
    assert.equal(list.length, 12);
    const byName = Object.fromEntries(list.map((m: { name: string }) => [m.name, m]));
    const expected: Record<string, string> = {
      smear: 'parameter_averaging_routing',
      ensemble: 'soft_routing',
      tag: 'task_routing',
      hash: 'hash_routing',
      topk: 'switch_routing',
      'st-gumbel': 'gs_st_routing',
      reinforce: 'reinf_bl_routing',
      'dselect-k': 'dselectk_routing',
      adamix: 'adamix_routing',
      skills: 'skill_routing',
      'soft-moe': 'soft_input_routing',
      dense: 'None',
    };
    for (const [name, ref] of Object.entries(expected)) assert.equal(byName[name]?.referenceName, ref, name);
    const labels = list.flatMap((m: { configurations: { label: string }[] }) => m.configurations.map((c) => c.label));
    for (const l of ['1× compute', '1× parameters', 'SMEAR 2×', 'Top-k 2×']) assert.ok(labels.includes(l), l);
    const onePar = byName.dense.configurations.find((c: { label: string }) => c.label === '1× parameters');
    assert.deepEqual(onePar.t5, { numExperts: 1, bottleneck: 192 });
    assert.deepEqual(onePar.resnet, { numExperts: 1, bottleneck: 192 });
    assert.deepEqual(byName.smear.configurations[1].t5, { numExperts: 16, bottleneck: 24 });
    assert.deepEqual(byName.reinforce.auxLosses.map((a: { name: string }) => a.name), ['policy', 'entropy', 'value']);
  });

  it('methods prints a table', () => {
    const r = smear(['methods']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /smear\s+parameter_averaging_routing\s+merge\s+SMEAR\s+N=8 d=24\s+N=6 d=32/);
    assert.match(r.stdout, /12 methods/);
  });

  it('info reports the backend, versions and threads', () => {
    const r = smear(['info', '--json'], { SMEAR_BACKEND: 'cpu' });
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.name, 'cpu');
    assert.equal(info.threads, 1);
    assert.equal(info.versions['tfjs-core'], '4.22.0');
    assert.ok(info.machine.cpus >= 1);
    const text = smear(['info'], { SMEAR_BACKEND: 'cpu' });
    assert.match(text.stdout, /backend:\s+cpu/);
  });

  it('unknown commands and options fail with usage', () => {
    const r = smear(['frobnicate']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
    const o = smear(['methods', '--jsn']);
    assert.equal(o.status, 2);
    assert.match(o.stderr, /Unknown option '--jsn'/);
  });

  it('train: options of the other setting and a bad --split-mode are refused by name', () => {
    const r = smear(['train', '--setting', 'resnet', '--method', 'smear', '--max-length', '64'], { SMEAR_BACKEND: 'cpu' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /option --max-length applies to --setting t5/);
    const s = smear(['train', '--setting', 't5', '--method', 'smear', '--split-mode', 'halves', '--data', root], { SMEAR_BACKEND: 'cpu' });
    assert.notEqual(s.status, 0);
    assert.match(s.stderr, /option data.splitMode: expected 'spec' or 'reference', got 'halves'/);
  });
});
