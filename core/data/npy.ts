// Minimal .npy (format 1.0/2.0) writer and reader for the dataset contract: little-endian numeric
// arrays that Python reads with np.load. Only C order, only the dtypes the pipeline uses.

export type NpyDtype = 'int8' | 'uint8' | 'int16' | 'int32' | 'int64' | 'float32' | 'float64';

export type NpyArray = Int8Array | Uint8Array | Int16Array | Int32Array | BigInt64Array | Float32Array | Float64Array;

const DESCR: Record<NpyDtype, string> = {
  int8: '|i1',
  uint8: '|u1',
  int16: '<i2',
  int32: '<i4',
  int64: '<i8',
  float32: '<f4',
  float64: '<f8',
};
const FROM_DESCR: Record<string, NpyDtype> = Object.fromEntries(
  Object.entries(DESCR).flatMap(([k, v]) => [
    [v, k as NpyDtype],
    // numpy writes single-byte types as '|i1' but accepts '<i1'; be as lenient when reading.
    [v.replace('|', '<'), k as NpyDtype],
  ]),
);

export function dtypeOf(a: NpyArray): NpyDtype {
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Uint8Array) return 'uint8';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Float32Array) return 'float32';
  return 'float64';
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

/** Encodes an array as .npy bytes. `shape` defaults to 1-D; its product must equal the length. */
export function encodeNpy(data: NpyArray, shape: readonly number[] = [data.length]): Buffer {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw new Error(`npy: shape [${shape.join(', ')}] holds ${size} values, data has ${data.length}`);
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${DESCR[dtypeOf(data)]}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  // Header (magic + version + length field + dict + padding + '\n') is padded to a multiple of 64
  // so the data is aligned, as numpy itself does.
  let version = 1;
  let prefix = 10;
  let total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    version = 2;
    prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  }
  const headerLen = total - prefix;
  const header = Buffer.alloc(total, 0x20);
  MAGIC.copy(header, 0);
  header[6] = version;
  header[7] = 0;
  if (version === 1) header.writeUInt16LE(headerLen, 8);
  else header.writeUInt32LE(headerLen, 8);
  header.write(dict, prefix, 'latin1');
  header[total - 1] = 0x0a;
  if (!isLittleEndianHost()) throw new Error('npy: big-endian hosts are not supported');
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat([header, body]);
}

export interface DecodedNpy {
  dtype: NpyDtype;
  shape: number[];
  data: NpyArray;
}

/** Decodes .npy bytes; the returned array owns an aligned copy of the data. */
export function decodeNpy(buf: Uint8Array, name = 'array'): DecodedNpy {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 10 || !b.subarray(0, 6).equals(MAGIC)) throw new Error(`${name}: not a .npy file (bad magic)`);
  const major = b[6];
  let prefix: number;
  let headerLen: number;
  if (major === 1) {
    prefix = 10;
    headerLen = b.readUInt16LE(8);
  } else if (major === 2 || major === 3) {
    prefix = 12;
    headerLen = b.readUInt32LE(8);
  } else throw new Error(`${name}: unsupported .npy version ${String(major)}`);
  const dict = b.subarray(prefix, prefix + headerLen).toString('latin1');
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(dict)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(dict)?.[1];
  const shapeStr = /'shape'\s*:\s*\(([^)]*)\)/.exec(dict)?.[1];
  if (descr === undefined || fortran === undefined || shapeStr === undefined) throw new Error(`${name}: bad .npy header ${dict}`);
  if (fortran === 'True') throw new Error(`${name}: Fortran-order arrays are not supported`);
  const dtype = FROM_DESCR[descr];
  if (!dtype) throw new Error(`${name}: unsupported dtype ${descr}`);
  const shape = shapeStr
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  const count = shape.reduce((a, c) => a * c, 1);
  const start = prefix + headerLen;
  const bytes = BYTES[dtype] * count;
  if (b.length < start + bytes) throw new Error(`${name}: truncated .npy (expected ${bytes} data bytes, found ${b.length - start})`);
  const copy = new ArrayBuffer(bytes);
  new Uint8Array(copy).set(b.subarray(start, start + bytes));
  return { dtype, shape, data: view(dtype, copy) };
}

const BYTES: Record<NpyDtype, number> = { int8: 1, uint8: 1, int16: 2, int32: 4, int64: 8, float32: 4, float64: 8 };

function view(dtype: NpyDtype, buf: ArrayBuffer): NpyArray {
  switch (dtype) {
    case 'int8':
      return new Int8Array(buf);
    case 'uint8':
      return new Uint8Array(buf);
    case 'int16':
      return new Int16Array(buf);
    case 'int32':
      return new Int32Array(buf);
    case 'int64':
      return new BigInt64Array(buf);
    case 'float32':
      return new Float32Array(buf);
    case 'float64':
      return new Float64Array(buf);
  }
}

function isLittleEndianHost(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}
