import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pythonBinary } from '../../runtime/paths';

/** The test encoder scripts/setup.sh links into the clone (or R4EC_ENCODER_DIR). */
export const ENCODER_DIR = resolve(process.env.R4EC_ENCODER_DIR ?? resolve(__dirname, '..', '..', '.tools', 'encoder'));

/** For `test(name, { skip: skipWithoutEncoder() }, …)`. */
export function skipWithoutEncoder(): string | false {
  return existsSync(join(ENCODER_DIR, 'model.onnx')) ? false : `test encoder not found at ${ENCODER_DIR} (run scripts/setup.sh)`;
}

export function skipWithoutPython(): string | false {
  const py = pythonBinary();
  try {
    execFileSync(py, ['-c', 'import onnxruntime, tokenizers, numpy'], { stdio: 'ignore' });
    return false;
  } catch {
    return `python with onnxruntime + tokenizers not found (${py}); run scripts/setup.sh`;
  }
}

export interface ReferenceVector {
  tokens: number;
  vector: number[];
}

/** Vectors from test/encode/reference.py (Python onnxruntime + HF tokenizers, one text at a time). */
export function pythonReference(modelDir: string, texts: readonly string[]): ReferenceVector[] {
  const dir = mkdtempSync(join(tmpdir(), 'r4ec-ref-'));
  try {
    writeFileSync(join(dir, 'texts.json'), JSON.stringify(texts));
    execFileSync(pythonBinary(), [join(__dirname, 'reference.py'), modelDir, join(dir, 'texts.json'), join(dir, 'out.json')], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, OMP_NUM_THREADS: '1' },
    });
    return JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as ReferenceVector[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function row(m: Float32Array, i: number, dim: number): Float32Array {
  return m.subarray(i * dim, (i + 1) * dim);
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
