/**
 * The results tables print each method's validation score at its last two
 * evaluations (issue 10: a reader sees whether a method was still rising when
 * its budget ended). Checked on metrics.jsonl lines written by hand. And
 * `--quick`, the short first look, keeps to folders of its own.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { formatValidations, lastValidations, quickRunDir, REPO_ROOT, validationsNote } from '../../kernel-lib/settings/common';
import { resolveResNetConfig } from '../../kernel-lib/settings/resnet/config';
import { renderResults, type ReproductionRow } from '../../kernel-lib/settings/resnet/reproduce';
import { renderT5Results, type T5ReproductionRow } from '../../kernel-lib/settings/t5/reproduce';

const lines = [
  { step: 20, split: 'train', loss: 2.1, steps_per_s: 5 },
  { step: 100, split: 'valid', score: 0.25, accuracy: 0.25 },
  { step: 120, split: 'train', loss: 1.9, steps_per_s: 5 },
  { step: 200, split: 'valid', score: 0.485, accuracy: 0.485 },
  { step: 300, split: 'valid', score: 0.515, accuracy: 0.515 },
  { step: 300, split: 'test', score: 0.5, accuracy: 0.5 },
];

describe('last two validation scores', () => {
  it('takes the last two valid lines, scaled, in step order', () => {
    assert.deepEqual(lastValidations(lines, 100), [
      { step: 200, score: 48.5 },
      { step: 300, score: 51.5 },
    ]);
    assert.deepEqual(lastValidations(lines.slice(0, 2), 100), [{ step: 100, score: 25 }]);
    assert.deepEqual(lastValidations([], 100), []);
  });

  it('formats as "a → b", one score, or a dash', () => {
    assert.equal(formatValidations([{ step: 1, score: 48.75 }, { step: 2, score: 51.25 }]), '48.8 → 51.3');
    assert.equal(formatValidations([{ step: 1, score: 25 }]), '25.0');
    assert.equal(formatValidations([]), '–');
    assert.equal(formatValidations(undefined), '–');
  });

  it('the note names the steps when every run evaluated at the same ones', () => {
    const v = lastValidations(lines, 100);
    assert.match(validationsNote([{ validations: v }, { validations: v }], 'accuracy'), /validation accuracy at the last two evaluations \(steps 200 and 300\)/);
    assert.doesNotMatch(validationsNote([{ validations: v }, { validations: v.slice(1) }]), /\(steps/);
  });

  it('both settings print the column', () => {
    const validations = lastValidations(lines, 100);
    const resnet: ReproductionRow = { label: 'smear', method: 'smear', configuration: 'SMEAR', accuracy: 0.5, perDomain: { real: 0.5 }, stepsPerSecond: 1, trainableParameters: 10, runDir: '/x', reused: false, validations };
    const md = renderResults([resnet], 'mini', 1);
    assert.match(md, /\| method \| accuracy \| real \| last 2 valid \| steps\/s \| trainable params \|/);
    assert.match(md, /\| smear \| 50\.0 \| 50\.0 \| 48\.5 → 51\.5 \| 1\.00 \| 10 \|/);
    const t5: T5ReproductionRow = {
      label: 'smear', method: 'smear', configuration: 'SMEAR', glueAverage: 40, taskMean: 41, perTask: {}, validScore: 51.5, validations: lastValidations(lines, 1),
      bestStep: 300, stepsPerSecond: 2, seconds: 10, trainableParameters: 10, runDir: '/x', reused: false,
    };
    const md5 = renderT5Results([t5], 'mini', 1);
    assert.match(md5, /\| valid \| last 2 valid \| steps\/s \|/);
    assert.match(md5, /\| 51\.5 \| 0\.5 → 0\.5 \| 2\.00 \| 10 \|/);
    assert.match(md5, /validation GLUE avg at the last two evaluations \(steps 200 and 300\)/);
  });
});

describe('smear reproduce --quick', () => {
  it('runs in folders of its own, next to the default ones', () => {
    assert.equal(quickRunDir('resnet', { method: 'smear' }), path.join(REPO_ROOT, 'runs', 'resnet-mini-quick-smear'));
    assert.equal(quickRunDir('t5', { method: 'dense', configuration: '1× parameters' }), path.join(REPO_ROOT, 'runs', 't5-mini-quick-dense-1x-parameters'));
    // The default folder of the same method is another one.
    assert.equal(resolveResNetConfig({ method: 'smear' }).runDir, path.join(REPO_ROOT, 'runs', 'resnet-mini-smear'));
  });

  it('refuses another profile, naming both options', () => {
    const r = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'kernel-lib', 'cli', 'bin.js'), 'reproduce', '--setting', 'resnet', '--quick', '--profile', 'paper'], { encoding: 'utf8', env: { ...process.env, SMEAR_QUIET: '1' } });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /option --quick: a short budget of the mini profile; it does not combine with --profile paper/);
  });
});
