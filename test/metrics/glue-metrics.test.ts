import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accuracy,
  answerToInt,
  averageRanks,
  f1WithInvalid,
  glueAverage,
  glueTaskMeanAverage,
  matthews,
  pearson,
  postprocess,
  pyFloat,
  spearman,
  taskMetrics,
  taskMetricsFromStrings,
} from '../../kernel-lib/metrics/glue';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

test('post-processing: lower/strip, the answer-word map, -1 for unknown; STS-B float()', () => {
  assert.equal(answerToInt(' Yes\n'), 1);
  assert.equal(answerToInt('Not Entailment'), 0);
  assert.equal(answerToInt('not duplicates'), 0);
  assert.equal(answerToInt('duplicates'), 1);
  assert.equal(answerToInt('Maybe'), 2);
  assert.equal(answerToInt('Inconclusive'), 2);
  assert.equal(answerToInt('Guaranteed'), 1);
  assert.equal(answerToInt('Impossible'), 0);
  assert.equal(answerToInt('Possible'), 2);
  assert.equal(answerToInt('yes.'), -1);
  assert.equal(answerToInt(''), -1);
  assert.equal(pyFloat(' 3.8 '), 3.8);
  assert.equal(pyFloat('4.0'), 4);
  assert.equal(pyFloat('1_0.5'), 10.5);
  assert.equal(pyFloat('.5'), 0.5);
  assert.equal(pyFloat('5.'), 5);
  assert.equal(pyFloat('1e1'), 10);
  assert.equal(pyFloat('3.8abc'), -1); // JS parseFloat would say 3.8
  assert.equal(pyFloat('yes'), -1);
  assert.equal(pyFloat('-inf'), -Infinity);
  assert.ok(Number.isNaN(pyFloat('nan')));
  assert.equal(postprocess('stsb', '2.4'), 2.4);
  assert.equal(postprocess('rte', 'no'), 0);
});

test('accuracy and F1 with invalid predictions flipped to the wrong class (hand-computed)', () => {
  const t = [1, 1, 0, 0, 1];
  const p = [1, -1, 1, 0, 2];
  assert.equal(accuracy(p, t), 40); // i0, i3
  // invalid at i1, i4 → 1 − target = 0: preds [1,0,1,0,0]; tp=1, fp=1, fn=2 → 2/(2+1+2)
  close(f1WithInvalid(p, t), 40);
  assert.equal(f1WithInvalid([0, 0], [0, 0]), 0); // undefined → 0, as sklearn
  close(f1WithInvalid([1, 1, 0], [1, 0, 1]), (100 * 2) / 4);
  assert.throws(() => accuracy([1], [1, 0]), /1 predictions vs 2 targets/);
});

test('Pearson / Spearman vs scipy 1.17.1 (python3 -c "import scipy.stats as st; ...") and NaN → 0', () => {
  const t = [0.0, 1.2, 2.4, 3.8, 5.0, 2.4, 1.0];
  const p = [0.2, 1.0, 2.4, 4.0, 4.6, 3.0, -1.0];
  close(pearson(p, t), 91.41181170399602, 1e-12); // 100*st.pearsonr(t,p)[0]
  close(spearman(p, t), 95.49937104572925, 1e-12); // 100*st.spearmanr(t,p)[0]
  close(spearman([1, 1, 2, 2, 2], [1, 2, 2, 3, 4]), 74.04360971988655, 1e-12);
  close(pearson([1, 1, 2, 2, 2], [1, 2, 2, 3, 4]), 72.05766921228918, 1e-12);
  assert.deepEqual(Array.from(averageRanks([3, 1, 4, 1, 5, 9, 2, 6, 5, 3])), [4.5, 1.5, 6, 1.5, 7.5, 10, 3, 9, 7.5, 4.5]); // st.rankdata
  assert.equal(pearson([2, 2, 2], [1, 2, 3]), 0); // constant predictions
  assert.equal(spearman([2, 2, 2], [1, 2, 3]), 0);
  assert.equal(spearman([NaN, 1, 2], [1, 2, 3]), 0);
  close(pearson([1, 2, 3], [2, 4, 6]), 100);
  close(spearman([3, 2, 1], [1, 5, 9]), -100);
});

test("Matthews correlation: sklearn's multiclass formula, -1 as a class of its own (hand-computed)", () => {
  // binary: TP=1, TN=2, FP=0, FN=1 → (1·2 − 0·1)/sqrt(1·2·2·3) = 2/sqrt(12)
  close(matthews([1, 0, 0, 0], [1, 1, 0, 0]), (100 * 2) / Math.sqrt(12));
  // t=[1,0,1,0], p=[1,0,-1,-1]: classes {-1,0,1}; t_sum=(0,2,2), p_sum=(2,1,1), correct=2, n=4
  // cov = 2·4 − (0·2+2·1+2·1) = 4; cov_pp = 16 − 6 = 10; cov_tt = 16 − 8 = 8 → 4/sqrt(80)
  close(matthews([1, 0, -1, -1], [1, 0, 1, 0]), (100 * 4) / Math.sqrt(80));
  assert.equal(matthews([1, 1, 1], [1, 0, 1]), 0); // constant predictions → 0
  close(matthews([0, 1, 0, 1], [0, 1, 0, 1]), 100);
  close(matthews([1, 0, 1, 0], [0, 1, 0, 1]), -100);
});

test('per-task metric sets and the two GLUE averages', () => {
  assert.deepEqual(Object.keys(taskMetrics('mrpc', [1, 0], [1, 1])), ['f1', 'acc']);
  assert.deepEqual(Object.keys(taskMetrics('stsb', [1, 2, 3], [1, 2, 4])), ['pearson_corrcoef', 'spearman_corrcoef']);
  const cola = taskMetricsFromStrings('cola', ['yes', 'No', 'maybe', 'no'], ['yes', 'no', 'yes', 'no']);
  // p=[1,0,-1,0] t=[1,0,1,0]: classes {-1,0,1}; t_sum=(0,2,2) p_sum=(1,2,1); correct=3; cov=3·4−(0+4+2)=6;
  // cov_pp=16−(1+4+1)=10; cov_tt=16−8=8 → 6/sqrt(80)
  close(cola.mcc!, (100 * 6) / Math.sqrt(80));
  const res = {
    rte: { acc: 70 },
    sst2: { acc: 90 },
    mrpc: { f1: 88, acc: 84 },
    stsb: { pearson_corrcoef: 86, spearman_corrcoef: 85 },
    qqp: { f1: 80, acc: 86 },
    mnli: { acc: 83 },
    qnli: { acc: 89 },
    cola: { mcc: 50 },
  };
  close(glueAverage(res), (70 + 90 + 88 + 84 + 86 + 85 + 80 + 86 + 83 + 89 + 50) / 11);
  close(glueTaskMeanAverage(res), (70 + 90 + 86 + 85.5 + 83 + 83 + 89 + 50) / 8);
  assert.throws(() => glueAverage({ mrpc: { f1: 1 } }), /mrpc lacks metric 'acc'/);
});
