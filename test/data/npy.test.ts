import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { decodeNpy, encodeNpy, type NpyArray } from '../../core/data/npy';

const cases: [string, NpyArray, number[]][] = [
  ['int8', Int8Array.from([-128, -1, 0, 1, 127]), [5]],
  ['uint8', Uint8Array.from([0, 255, 7]), [3]],
  ['int16', Int16Array.from([-32768, 12, 32767]), [3]],
  ['int32', Int32Array.from([-5, 0, 7, 2147483647, -2147483648, 42]), [2, 3]],
  ['int64', BigInt64Array.from([-(2n ** 62n), 0n, 1n, 2n ** 40n]), [4]],
  ['float32', Float32Array.from([1.5, -0.25, 3]), [3, 1]],
  ['float64', Float64Array.from([Math.PI, -1e300]), [2]],
  ['empty int32', new Int32Array(0), [0]],
  ['empty 2-D', new Int8Array(0), [0, 10]],
];

for (const [name, data, shape] of cases) {
  test(`npy round trip: ${name} ${JSON.stringify(shape)}`, () => {
    const buf = encodeNpy(data, shape);
    const headerLen = buf.readUInt16LE(8);
    assert.equal((10 + headerLen) % 64, 0, 'data starts 64-byte aligned');
    assert.equal(buf[10 + headerLen - 1], 0x0a, 'header ends with a newline');
    const back = decodeNpy(buf);
    assert.deepEqual(back.shape, shape);
    assert.equal(back.data.constructor, data.constructor);
    assert.deepEqual(Array.from(back.data as ArrayLike<number | bigint>), Array.from(data as ArrayLike<number | bigint>));
  });
}

test('npy: decoding an unaligned view copies rather than failing', () => {
  const inner = encodeNpy(Int32Array.from([1, 2, 3]));
  const shifted = Buffer.concat([Buffer.from([9]), inner]).subarray(1);
  assert.deepEqual(Array.from(decodeNpy(shifted).data as Int32Array), [1, 2, 3]);
});

test('npy: shape that does not match the data and bad files are rejected', () => {
  assert.throws(() => encodeNpy(new Int32Array(5), [2, 3]), /shape/);
  assert.throws(() => decodeNpy(Buffer.from('not numpy at all')), /bad magic/);
  const truncated = encodeNpy(Int32Array.from([1, 2, 3])).subarray(0, -4);
  assert.throws(() => decodeNpy(truncated), /truncated/);
});

const python = resolve(__dirname, '..', '..', '.tools', 'venv', 'bin', 'python');
test('npy: numpy reads what we write and we read what numpy writes', { skip: existsSync(python) ? false : 'no .tools/venv (run scripts/setup.sh)' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'r4ec-npy-'));
  try {
    writeFileSync(join(dir, 'a.npy'), encodeNpy(Int32Array.from([1, -2, 3, 4, 5, 6]), [2, 3]));
    writeFileSync(join(dir, 'b.npy'), encodeNpy(BigInt64Array.from([2n ** 40n, -7n])));
    writeFileSync(join(dir, 'c.npy'), encodeNpy(Int8Array.from([-1, 5])));
    const script = [
      'import numpy as np, sys',
      'd = sys.argv[1]',
      'a = np.load(d + "/a.npy"); b = np.load(d + "/b.npy"); c = np.load(d + "/c.npy")',
      'assert a.dtype == np.int32 and a.shape == (2, 3) and a.tolist() == [[1, -2, 3], [4, 5, 6]], a',
      'assert b.dtype == np.int64 and b.tolist() == [2**40, -7], b',
      'assert c.dtype == np.int8 and c.tolist() == [-1, 5], c',
      'np.save(d + "/py.npy", np.arange(12, dtype=np.float32).reshape(3, 4))',
      'print("ok")',
    ].join('\n');
    assert.equal(execFileSync(python, ['-c', script, dir], { encoding: 'utf8' }).trim(), 'ok');
    const py = decodeNpy(readFileSync(join(dir, 'py.npy')));
    assert.equal(py.dtype, 'float32');
    assert.deepEqual(py.shape, [3, 4]);
    assert.deepEqual(Array.from(py.data as Float32Array), Array.from({ length: 12 }, (_, i) => i));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
