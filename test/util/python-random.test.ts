/**
 * PythonRandom against CPython 3.11.7's `random` module.
 *
 * EXPECTED was produced once with `python3 gen.py` (Python 3.11.7), gen.py being:
 *
 * import random, json
 * out = {}
 * for s in [0, 1, 42, 2**40, -42, 2**32]:
 *     r = random.Random(s)
 *     d = {}
 *     d['random5'] = [r.random() for _ in range(5)]
 *     r.seed(s); d['getrandbits32'] = [r.getrandbits(32) for _ in range(3)]
 *     r.seed(s); d['getrandbits_mixed'] = [r.getrandbits(k) for k in (1, 7, 31, 33, 48, 53)]
 *     r.seed(s); d['randbelow'] = [r._randbelow(n) for n in (1, 2, 3, 10, 1000, 2**31+1, 2**40+3)]
 *     r.seed(s); x = list(range(10)); r.shuffle(x); d['shuffle10'] = x
 *     r.seed(s); x = list(range(1000)); r.shuffle(x); d['shuffle1000_first5'] = x[:5]; d['shuffle1000_last5'] = x[-5:]
 *     out[str(s)] = d
 * print(json.dumps(out))
 *
 * (JSON keys are the seeds; 2**40 = 1099511627776, 2**32 = 4294967296; -42 must equal 42.)
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { PythonRandom } from '../../kernel-lib/util/python-random';

interface Expected {
  random5: number[];
  getrandbits32: number[];
  getrandbits_mixed: number[];
  randbelow: number[];
  shuffle10: number[];
  shuffle1000_first5: number[];
  shuffle1000_last5: number[];
}

const EXPECTED: Record<string, Expected> = {
  "0": {
    "random5": [0.8444218515250481, 0.7579544029403025, 0.420571580830845, 0.25891675029296335, 0.5112747213686085],
    "getrandbits32": [3626764237, 1654615998, 3255389356],
    "getrandbits_mixed": [1, 49, 1627694678, 3823568514, 72877178957620, 4605153980757242],
    "randbelow": [0, 1, 0, 4, 988, 2087043557, 788025983492],
    "shuffle10": [7, 8, 1, 5, 3, 4, 2, 0, 9, 6],
    "shuffle1000_first5": [439, 621, 160, 549, 237],
    "shuffle1000_last5": [430, 911, 776, 394, 864]
  },
  "1": {
    "random5": [0.13436424411240122, 0.8474337369372327, 0.763774618976614, 0.2550690257394217, 0.49543508709194095],
    "getrandbits32": [577090037, 2444712010, 3639700191],
    "getrandbits_mixed": [0, 72, 1819850095, 7740669488, 71794944361681, 4462480116935561],
    "randbelow": [0, 0, 1, 1, 507, 1930549411, 207060179245],
    "shuffle10": [6, 8, 9, 7, 5, 3, 0, 4, 1, 2],
    "shuffle1000_first5": [852, 836, 280, 575, 208],
    "shuffle1000_last5": [782, 821, 867, 582, 137]
  },
  "42": {
    "random5": [0.6394267984578837, 0.025010755222666936, 0.27502931836911926, 0.22321073814882275, 0.7364712141640124],
    "getrandbits32": [2746317213, 478163327, 107420369],
    "getrandbits_mixed": [1, 14, 53710184, 3184935163, 62827833408400, 6633543228244457],
    "randbelow": [0, 0, 2, 4, 250, 958682846, 191320892468],
    "shuffle10": [7, 3, 2, 8, 5, 6, 9, 4, 0, 1],
    "shuffle1000_first5": [776, 507, 895, 922, 33],
    "shuffle1000_last5": [281, 759, 25, 114, 654]
  },
  "1099511627776": {
    "random5": [0.1036394562812375, 0.6705558677439764, 0.4266543913526999, 0.38773077278691204, 0.6264862385425468],
    "getrandbits32": [445128065, 1517081360, 2880015531],
    "getrandbits_mixed": [0, 45, 1440007765, 282029048, 109135327650440, 5642884366616020],
    "randbelow": [0, 1, 2, 1, 436, 208659080, 877838619365],
    "shuffle10": [7, 8, 2, 4, 6, 0, 3, 9, 5, 1],
    "shuffle1000_first5": [746, 886, 618, 550, 91],
    "shuffle1000_last5": [436, 67, 686, 361, 106]
  },
  "-42": {
    "random5": [0.6394267984578837, 0.025010755222666936, 0.27502931836911926, 0.22321073814882275, 0.7364712141640124],
    "getrandbits32": [2746317213, 478163327, 107420369],
    "getrandbits_mixed": [1, 14, 53710184, 3184935163, 62827833408400, 6633543228244457],
    "randbelow": [0, 0, 2, 4, 250, 958682846, 191320892468],
    "shuffle10": [7, 3, 2, 8, 5, 6, 9, 4, 0, 1],
    "shuffle1000_first5": [776, 507, 895, 922, 33],
    "shuffle1000_last5": [281, 759, 25, 114, 654]
  },
  "4294967296": {
    "random5": [0.11299430095636409, 0.41782886486292836, 0.0166763664992291, 0.6117214625782752, 0.8056470212514185],
    "getrandbits32": [485306839, 1508871100, 1794561286],
    "getrandbits_mixed": [0, 44, 897280643, 4014597330, 172181041948429, 7256625887290259],
    "randbelow": [0, 1, 1, 0, 23, 1423829729, 996409757029],
    "shuffle10": [8, 9, 3, 2, 4, 7, 0, 6, 5, 1],
    "shuffle1000_first5": [965, 826, 276, 153, 54],
    "shuffle1000_last5": [17, 957, 427, 359, 115]
  }
};

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('PythonRandom (CPython 3.11 random)', () => {
  for (const [seedText, exp] of Object.entries(EXPECTED)) {
    const seed = Number(seedText);
    describe(`seed ${seedText}`, () => {
      it('random() ×5', () => {
        const r = new PythonRandom(seed);
        assert.deepEqual(range(5).map(() => r.random()), exp.random5);
      });
      it('getrandbits(32) ×3', () => {
        const r = new PythonRandom(seed);
        assert.deepEqual(range(3).map(() => r.getrandbits(32)), exp.getrandbits32);
      });
      it('getrandbits(1, 7, 31, 33, 48, 53)', () => {
        const r = new PythonRandom(seed);
        assert.deepEqual([1, 7, 31, 33, 48, 53].map((k) => r.getrandbits(k)), exp.getrandbits_mixed);
      });
      it('randbelow(1, 2, 3, 10, 1000, 2^31+1, 2^40+3)', () => {
        const r = new PythonRandom(seed);
        assert.deepEqual([1, 2, 3, 10, 1000, 2 ** 31 + 1, 2 ** 40 + 3].map((n) => r.randbelow(n)), exp.randbelow);
      });
      it('shuffle(range(10))', () => {
        const r = new PythonRandom(seed);
        const x = range(10);
        r.shuffle(x);
        assert.deepEqual(x, exp.shuffle10);
      });
      it('shuffle(range(1000)): first and last five', () => {
        const r = new PythonRandom(seed);
        const x = range(1000);
        r.shuffle(x);
        assert.deepEqual(x.slice(0, 5), exp.shuffle1000_first5);
        assert.deepEqual(x.slice(-5), exp.shuffle1000_last5);
        assert.deepEqual([...x].sort((a, b) => a - b), range(1000));
      });
    });
  }

  it('bigint seeds equal number seeds; re-seeding restarts the stream', () => {
    const a = new PythonRandom(2 ** 40);
    const b = new PythonRandom(2n ** 40n);
    assert.deepEqual(range(4).map(() => a.random()), range(4).map(() => b.random()));
    a.seed(42);
    assert.equal(a.random(), EXPECTED['42'].random5[0]);
  });

  it('rejects bad arguments with the value in the message', () => {
    assert.throws(() => new PythonRandom(1.5), /seed must be an integer.*1\.5/);
    assert.throws(() => new PythonRandom(2 ** 60), /beyond 2\^53.*bigint/);
    const r = new PythonRandom(0);
    assert.throws(() => r.getrandbits(54), /k = 54 is not supported/);
    assert.throws(() => r.getrandbits(-1), /non-negative integer; got -1/);
    assert.throws(() => r.randbelow(0), /randbelow: n must be an integer in \[1, 2\^53\); got 0/);
  });

  it('a 50,000-element shuffle (seed 20240607, after 3 random() calls) matches python3 live', (t) => {
    const py = [
      'import random, json',
      'random.seed(20240607)',
      '[random.random() for _ in range(3)]',
      'x = list(range(50000))',
      'random.shuffle(x)',
      'print(json.dumps(x))',
    ].join('\n');
    const res = spawnSync('python3', ['-c', py], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (res.error || res.status !== 0) {
      t.skip(`python3 not runnable here (${res.error ? res.error.message : `exit ${res.status}: ${res.stderr}`}); the embedded CPython values above still ran`);
      return;
    }
    const r = new PythonRandom(20240607);
    for (let i = 0; i < 3; i++) r.random();
    const x = range(50000);
    r.shuffle(x);
    assert.deepEqual(x, JSON.parse(res.stdout));
  });
});
