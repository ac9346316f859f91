/** safetensors read/write: round trips, hand-built half-precision files, corrupt files, a live Python cross-check. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  readSafetensors,
  writeSafetensors,
  parseSafetensors,
  encodeSafetensors,
  numberToF16Bits,
  f16BitsToNumber,
  numberToBf16Bits,
  bf16BitsToNumber,
} from '../../kernel-lib/io/safetensors';
import type { TensorToWrite } from '../../kernel-lib/io/safetensors';
import { writeFileAtomic } from '../../kernel-lib/io/atomic';

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smear-st-'));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Build a file from a header object and raw data bytes (header padded to 8 like the spec). */
function handBuilt(header: unknown, data: number[] | Uint8Array, pad = true): Uint8Array {
  let h = Buffer.from(JSON.stringify(header), 'utf8');
  if (pad && h.length % 8) h = Buffer.concat([h, Buffer.alloc(8 - (h.length % 8), 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, Buffer.from(data)]);
}

function le16(vals: number[]): number[] {
  return vals.flatMap((v) => [v & 0xff, (v >> 8) & 0xff]);
}

describe('safetensors round trips', () => {
  it('every writable dtype, scalars, empty tensors, metadata', async () => {
    const tensors: Record<string, TensorToWrite> = {
      f32: { dtype: 'F32', shape: [2, 3], data: new Float32Array([1.5, -2, 3.25, 1e-30, -0, 6e20]) },
      f64: { dtype: 'F64', shape: [3], data: [0.1, -1e300, 7] },
      f16: { dtype: 'F16', shape: [4], data: [1, -0.5, 65504, 2 ** -24] },
      bf16: { dtype: 'BF16', shape: [2, 2], data: [1, -2, 3.140625, 2 ** 100] },
      i64: { dtype: 'I64', shape: [4], data: new Int32Array([0, -1, 2 ** 31 - 1, -(2 ** 31)]) },
      i32: { dtype: 'I32', shape: [2], data: [7, -7] },
      u8: { dtype: 'U8', shape: [3], data: new Uint8Array([0, 128, 255]) },
      bool: { dtype: 'BOOL', shape: [3], data: [1, 0, 1] },
      scalar: { dtype: 'F32', shape: [], data: [42] },
      empty: { dtype: 'F32', shape: [0, 4], data: [] },
    };
    const file = path.join(dir, 'all.safetensors');
    await writeSafetensors(file, tensors, { format: 'pt', note: 'ünïcode' });
    const { tensors: got, metadata } = await readSafetensors(file);
    assert.deepEqual(metadata, { format: 'pt', note: 'ünïcode' });
    assert.deepEqual([...got.keys()].sort(), Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const g = got.get(name)!;
      assert.equal(g.dtype, t.dtype, name);
      assert.deepEqual(g.shape, t.shape, name);
      const expected = Array.from(t.data, (v) => (t.dtype === 'F64' || t.dtype === 'F32' ? Math.fround(v) : v));
      if (t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16' || t.dtype === 'F64') assert.ok(g.data instanceof Float32Array, name);
      else if (t.dtype === 'I64' || t.dtype === 'I32') assert.ok(g.data instanceof Int32Array, name);
      else assert.ok(g.data instanceof Uint8Array, name);
      assert.deepEqual(Array.from(g.data), expected, name);
    }
    // -0 survives
    assert.ok(Object.is(got.get('f32')!.data[4], -0));
    // header is 8-aligned, and the file is byte-identical when written twice (deterministic)
    const bytes = fs.readFileSync(file);
    assert.equal(Number(bytes.readBigUInt64LE(0)) % 8, 0);
    const file2 = path.join(dir, 'all2.safetensors');
    await writeSafetensors(file2, Object.fromEntries(Object.entries(tensors).reverse()), { note: 'ünïcode', format: 'pt' });
    assert.ok(fs.readFileSync(file2).equals(bytes), 'same content in another insertion order → identical bytes');
    // keys sorted in the header, __metadata__ first, data in the same order
    const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
    const keys = Object.keys(header);
    assert.equal(keys[0], '__metadata__');
    assert.deepEqual(keys.slice(1), Object.keys(tensors).sort());
  });

  it('integer-like names keep sorted order in the header', () => {
    const chunks = encodeSafetensors({ b: { dtype: 'I32', shape: [1], data: [1] }, '10': { dtype: 'I32', shape: [1], data: [2] } });
    const text = Buffer.from(chunks[1]).toString('utf8');
    assert.ok(text.indexOf('"10"') < text.indexOf('"b"'), text);
    const parsed = parseSafetensors(Buffer.concat(chunks));
    assert.deepEqual(Array.from(parsed.tensors.get('10')!.data), [2]);
  });

  it('writes atomically and leaves no temp file; writeFileAtomic replaces content', async () => {
    const file = path.join(dir, 'atomic.txt');
    await writeFileAtomic(file, 'first');
    await writeFileAtomic(file, [Buffer.from('sec'), Buffer.from('ond')]);
    assert.equal(fs.readFileSync(file, 'utf8'), 'second');
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
    await assert.rejects(writeFileAtomic(path.join(dir, 'no-such-dir', 'x'), 'x'), /writeFileAtomic .*no-such-dir/);
  });

  it('rejects bad input when writing, naming the tensor', async () => {
    const file = path.join(dir, 'bad.safetensors');
    await assert.rejects(writeSafetensors(file, { w: { dtype: 'F32', shape: [2, 2], data: [1, 2, 3] } }), /tensor 'w'.*needs 4 values, got 3/);
    await assert.rejects(writeSafetensors(file, { w: { dtype: 'I32', shape: [1], data: [1.5] } }), /tensor 'w'.*value 1.5/);
    await assert.rejects(writeSafetensors(file, { w: { dtype: 'U8', shape: [1], data: [256] } }), /tensor 'w'.*value 256/);
    await assert.rejects(writeSafetensors(file, { w: { dtype: 'X9' as 'F32', shape: [1], data: [1] } }), /tensor 'w'.*dtype X9/);
    assert.ok(!fs.existsSync(file));
  });
});

describe('half precision', () => {
  it('reads a hand-built F16/BF16 file with hand-computed bits', () => {
    // F16: 1.0=0x3C00, -2.0=0xC000, 0.5=0x3800, 65504=0x7BFF (max), 2^-24=0x0001 (min subnormal),
    //      +Inf=0x7C00, 1/3≈0x3555 (= 1 + 341/1024 times 2^-2 = 0.333251953125)
    const f16 = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00, 0x3555];
    // BF16: 1.0=0x3F80, -2.0=0xC000, 0x4049 = 3.140625, 0x7F80=+Inf, 0x0001 = 2^-133 (float32 subnormal)
    const bf16 = [0x3f80, 0xc000, 0x4049, 0x7f80, 0x0001];
    const data = [...le16(f16), ...le16(bf16)];
    const bytes = handBuilt(
      {
        half: { dtype: 'F16', shape: [7], data_offsets: [0, 14] },
        brain: { dtype: 'BF16', shape: [5], data_offsets: [14, 24] },
      },
      data,
    );
    const { tensors } = parseSafetensors(bytes, 'hand.safetensors');
    assert.deepEqual(Array.from(tensors.get('half')!.data), [1, -2, 0.5, 65504, 2 ** -24, Infinity, 0.333251953125]);
    assert.deepEqual(Array.from(tensors.get('brain')!.data), [1, -2, 3.140625, Infinity, Math.fround(2 ** -133)]);
  });

  it('F16/BF16 encoders round to nearest even, keep NaN, saturate to Inf', () => {
    assert.equal(numberToF16Bits(1), 0x3c00);
    assert.equal(numberToF16Bits(1 + 2 ** -11), 0x3c00); // tie → even
    assert.equal(numberToF16Bits(1 + 3 * 2 ** -11), 0x3c02); // tie → even (up)
    assert.equal(numberToF16Bits(65520), 0x7c00); // rounds past max → Inf
    assert.equal(numberToF16Bits(2 ** -25), 0x0000); // tie at half the min subnormal → 0 (even)
    assert.equal(numberToF16Bits(1.5 * 2 ** -24), 0x0002); // tie between 1 and 2 subnormal units → 2 (even)
    assert.equal(numberToF16Bits(-0), 0x8000);
    assert.ok(Number.isNaN(f16BitsToNumber(numberToF16Bits(NaN))));
    assert.equal(numberToBf16Bits(Math.PI), 0x4049);
    assert.equal(numberToBf16Bits(1 + 2 ** -8), 0x3f80); // tie → even
    assert.equal(numberToBf16Bits(1 + 3 * 2 ** -8), 0x3f82);
    assert.ok(Number.isNaN(bf16BitsToNumber(numberToBf16Bits(NaN))));
    for (let h = 0; h < 0x10000; h += 7) {
      const v = f16BitsToNumber(h);
      if (!Number.isNaN(v)) assert.equal(numberToF16Bits(v), h, `f16 bits 0x${h.toString(16)}`);
    }
  });
});

describe('corrupt files give clear errors', () => {
  const good = () => ({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'I32', shape: [1], data_offsets: [8, 12] } });
  const cases: [string, () => Uint8Array, RegExp][] = [
    ['too short', () => new Uint8Array(5), /x\.st: file is 5 bytes/],
    ['header length past end', () => { const b = handBuilt(good(), new Uint8Array(12)); new DataView(b.buffer, b.byteOffset).setUint32(0, 4096, true); return b; }, /header length 4096 runs past the end/],
    ['huge header length', () => { const b = handBuilt(good(), new Uint8Array(12)); new DataView(b.buffer, b.byteOffset).setUint32(4, 1, true); return b; }, /exceeds the 100000000-byte limit/],
    ['not JSON', () => { const h = Buffer.from('{nope    '); const l = Buffer.alloc(8); l.writeBigUInt64LE(BigInt(h.length)); return Buffer.concat([l, h]); }, /header is not valid JSON/],
    ['not an object', () => handBuilt([1, 2], []), /header does not start with '\{'/],
    ['unknown dtype', () => handBuilt({ a: { dtype: 'F33', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor 'a': unknown dtype "F33"/],
    ['unsupported dtype', () => handBuilt({ a: { dtype: 'U16', shape: [1], data_offsets: [0, 2] } }, new Uint8Array(2)), /tensor 'a': dtype U16 is valid safetensors but not supported/],
    ['bad shape', () => handBuilt({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor 'a': shape \[-1\]/],
    ['offsets out of range (truncated)', () => handBuilt(good(), new Uint8Array(10)), /tensor 'b': data_offsets \[8, 12\] run past the data buffer \(10 bytes/],
    ['size mismatch', () => handBuilt({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), /tensor 'a': .*span 8 bytes, but dtype F32 × shape \[3\] needs 12/],
    ['overlap', () => handBuilt({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /tensor '(a|b)'.*overlap/],
    ['gap', () => handBuilt({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /tensor 'a': data_offsets start at 4, leaving a gap/],
    ['trailing bytes', () => handBuilt(good(), new Uint8Array(16)), /cover 12 bytes of the 16-byte data buffer/],
    ['begin > end', () => handBuilt({ a: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, new Uint8Array(4)), /tensor 'a': data_offsets \[4, 0\] has begin > end/],
    ['metadata not strings', () => handBuilt({ __metadata__: { k: 1 } }, []), /__metadata__\['k'\] is number/],
    ['int64 out of int32 range', () => { const d = Buffer.alloc(16); d.writeBigInt64LE(5n, 0); d.writeBigInt64LE(2n ** 40n, 8); return handBuilt({ ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, d); }, /tensor 'ids': int64 value 1099511627776 at index 1 does not fit in int32/],
    ['bool not 0/1', () => handBuilt({ m: { dtype: 'BOOL', shape: [1], data_offsets: [0, 1] } }, [2]), /tensor 'm': BOOL value 2/],
  ];
  for (const [name, make, re] of cases) {
    it(name, () => {
      assert.throws(() => parseSafetensors(make(), 'x.st'), (e: Error) => {
        assert.match(e.message, /^safetensors x\.st: /);
        assert.match(e.message, re);
        return true;
      });
    });
  }

  it('readSafetensors names the path of a missing file', async () => {
    await assert.rejects(readSafetensors(path.join(dir, 'missing.safetensors')), /missing\.safetensors: cannot read/);
  });

  it('accepts an unpadded header and negative int64 values', () => {
    const d = Buffer.alloc(8);
    d.writeBigInt64LE(-(2n ** 31n));
    const { tensors } = parseSafetensors(handBuilt({ ids: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, d, false));
    assert.deepEqual(Array.from(tensors.get('ids')!.data), [-(2 ** 31)]);
  });
});

function python(code: string, args: string[] = []): ReturnType<typeof spawnSync> {
  return spawnSync('python3', ['-c', code, ...args], { encoding: 'utf8' });
}

describe('live cross-check with Python', () => {
  const hasSafetensors = python('import safetensors.numpy, numpy').status === 0;
  const hasNumpy = python('import numpy').status === 0;

  it('the safetensors package reads our file and writes one we read', { skip: hasSafetensors ? false : 'python3 package `safetensors` not importable; skipped (nothing installed)' }, async () => {
    const file = path.join(dir, 'ours.safetensors');
    await writeSafetensors(file, {
      w: { dtype: 'F32', shape: [2, 2], data: [1, 2, 3, 4] },
      h: { dtype: 'F16', shape: [2], data: [0.5, -3] },
      i: { dtype: 'I64', shape: [3], data: [1, -2, 3] },
    }, { who: 'ts' });
    const theirs = path.join(dir, 'theirs.safetensors');
    const r = python(
      `import sys, numpy as np
from safetensors.numpy import load_file, save_file
from safetensors import safe_open
t = load_file(sys.argv[1])
assert t['w'].tolist() == [[1,2],[3,4]], t['w']
assert t['h'].dtype == np.float16 and t['h'].tolist() == [0.5, -3.0]
assert t['i'].dtype == np.int64 and t['i'].tolist() == [1, -2, 3]
with safe_open(sys.argv[1], 'np') as f: assert f.metadata() == {'who': 'ts'}
save_file({'x': np.arange(6, dtype=np.float64).reshape(2,3) / 4, 'b': np.array([True, False]), 'k': np.array([-5, 9], dtype=np.int64), 'y': np.array([1.5, -0.25], dtype=np.float16)}, sys.argv[2], metadata={'who': 'py'})`,
      [file, theirs],
    );
    assert.equal(r.status, 0, String(r.stderr));
    const { tensors, metadata } = await readSafetensors(theirs);
    assert.deepEqual(metadata, { who: 'py' });
    assert.deepEqual(Array.from(tensors.get('x')!.data), [0, 0.25, 0.5, 0.75, 1, 1.25]);
    assert.deepEqual(Array.from(tensors.get('b')!.data), [1, 0]);
    assert.deepEqual(Array.from(tensors.get('k')!.data), [-5, 9]);
    assert.deepEqual(Array.from(tensors.get('y')!.data), [1.5, -0.25]);
  });

  it('an independent numpy reader/writer agrees (struct + json + numpy, no safetensors package)', { skip: hasNumpy ? false : 'python3 with numpy not available' }, async () => {
    const file = path.join(dir, 'np.safetensors');
    const vals = [1, -0.1, 1e-5, 3.3, 65000, -7.77];
    await writeSafetensors(file, {
      f16: { dtype: 'F16', shape: [6], data: vals },
      bf16: { dtype: 'BF16', shape: [6], data: vals },
      i64: { dtype: 'I64', shape: [2], data: [-3, 2 ** 31 - 1] },
    });
    const out = path.join(dir, 'np-out.safetensors');
    const r = python(
      `import sys, json, struct, numpy as np
raw = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]; assert n % 8 == 0
h = json.loads(raw[8:8+n]); data = raw[8+n:]
def get(k, dt):
    b, e = h[k]['data_offsets']; return np.frombuffer(data[b:e], dtype=dt)
vals = np.array([1, -0.1, 1e-5, 3.3, 65000, -7.77], dtype=np.float32)
assert (get('f16', '<f2') == vals.astype(np.float16)).all(), (get('f16', '<f2'), vals.astype(np.float16))
u = vals.view(np.uint32).astype(np.uint64); bf = ((u + 0x7fff + ((u >> 16) & 1)) >> 16).astype(np.uint16)
assert (get('bf16', '<u2') == bf).all(), (get('bf16', '<u2'), bf)
assert get('i64', '<i8').tolist() == [-3, 2**31-1]
# write a file by hand for TS to read
t = {'a': np.array([0.1, -2.5, 1e-7], dtype=np.float16), 'c': np.array([[1, 2], [3, 4]], dtype=np.float64)}
hdr, off, blobs = {}, 0, []
for k in sorted(t):
    b = t[k].astype(t[k].dtype.newbyteorder('<')).tobytes(); hdr[k] = {'dtype': {'float16': 'F16', 'float64': 'F64'}[str(t[k].dtype)], 'shape': list(t[k].shape), 'data_offsets': [off, off + len(b)]}; off += len(b); blobs.append(b)
hj = json.dumps(hdr).encode(); hj += b' ' * (-len(hj) % 8)
open(sys.argv[2], 'wb').write(struct.pack('<Q', len(hj)) + hj + b''.join(blobs))
print(json.dumps([float(x) for x in t['a']]))`,
      [file, out],
    );
    assert.equal(r.status, 0, String(r.stderr));
    const expectedA = JSON.parse(String(r.stdout).trim()) as number[];
    const { tensors } = await readSafetensors(out);
    assert.deepEqual(Array.from(tensors.get('a')!.data), expectedA);
    assert.deepEqual(tensors.get('c')!.shape, [2, 2]);
    assert.deepEqual(Array.from(tensors.get('c')!.data), [1, 2, 3, 4]);
  });
});
