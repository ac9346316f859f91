/** The Markdown table checker the notebook tests use (markdown-tables.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { markdownTables, splitRow, tableShapeProblems } from './markdown-tables';
import { toMarkdown } from '../../kernel-lib/analysis/tables';
import * as dfd from 'danfojs-node';

describe('markdown table shapes', () => {
  it('splits on unescaped pipes, code spans included, as GFM does', () => {
    assert.deepEqual(splitRow('| a | b `x|y` | c \\| d |'), ['a', 'b `x', 'y`', 'c \\| d']);
    assert.deepEqual(splitRow('a | b'), ['a', 'b']);
  });

  it("finds notebook 00's old merge-check row (a | inside max |W̄ − Σ p_n W_n|) and passes the fixed one", () => {
    const broken = ['| quantity | value |', '|---|---:|', '| max |W̄_down − Σ p_n W_down,n| | 1.00e-7 |', '| experts run for example 0 | 1 (the merged one) |'].join('\n');
    const problems = tableShapeProblems(broken, '00 cell 7');
    assert.equal(problems.length, 1);
    assert.match(problems[0], /^00 cell 7, line 3: 4 cells where the header has 2 \(quantity \| value\)/);
    const fixed = broken.replace('max |W̄_down − Σ p_n W_down,n|', 'max abs(W̄_down − Σ p_n W_down,n)');
    assert.deepEqual(tableShapeProblems(fixed, '00'), []);
    assert.deepEqual(tableShapeProblems(broken.replace('max |W̄_down − Σ p_n W_down,n|', 'max \\|W̄_down − Σ p_n W_down,n\\|'), '00'), []);
  });

  it('several tables in one text, a bad delimiter row, and the library\'s own tables (pipes escaped)', () => {
    const md = ['text', '', '| a | b |', '|---|---|', '| 1 | 2 |', '', '| x |', '|---|---|', '| 3 |'].join('\n');
    assert.equal(markdownTables(md).length, 2);
    assert.deepEqual(tableShapeProblems(md, 'm').map((p) => p.split(':')[0]), ['m, line 8']);
    const df = new dfd.DataFrame([{ method: 'a|b', 'score |x|': 1.5 }]);
    assert.deepEqual(tableShapeProblems(toMarkdown(df), 'toMarkdown'), []);
  });
});
