// scripts/export-encoder.py on BGE-M3's architecture (XLM-RoBERTa: no token type ids, position
// offset, SentencePiece-style tokenizer, CLS pooling), at toy size: the exported directory loads in
// the encoder and matches the Python reference.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { OnnxEncoder } from '../../core/encode/model';
import { pythonBinary } from '../../runtime/paths';
import { pythonReference, skipWithoutPython } from './helpers';

const dir = mkdtempSync(join(tmpdir(), 'r4ec-export-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function skipWithoutTorch(): string | false {
  const base = skipWithoutPython();
  if (base) return base;
  try {
    execFileSync(pythonBinary(), ['-c', 'import torch, transformers'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'the venv has no torch/transformers (run scripts/setup.sh)';
  }
}

test('an exported XLM-R encoder matches Python onnxruntime + tokenizers', { skip: skipWithoutTorch() }, async () => {
  const py = pythonBinary();
  // Builds the model, then runs scripts/export-encoder.py --model <it> --out … --pooling cls.
  execFileSync(py, [join(__dirname, 'make-tiny-xlmr.py'), join(dir, 'hf'), '--out', join(dir, 'onnx'), '--pooling', 'cls'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const cfg = JSON.parse(readFileSync(join(dir, 'onnx', 'r4ec-encoder.json'), 'utf8')) as Record<string, unknown>;
  // 66 positions minus XLM-R's padding offset of 2.
  assert.deepEqual(cfg, { name: 'hf', pooling: 'cls', normalize: true, maxLength: 64, dim: 32, output: 'last_hidden_state' });

  const texts = ['the user enjoys thoughtful dramas', 'Naïve café owner likes science fiction with space exploration. '.repeat(8), '日本のアニメ', 'x'];
  const enc = await OnnxEncoder.open(join(dir, 'onnx'));
  try {
    const ref = pythonReference(join(dir, 'onnx'), texts);
    assert.equal(ref[1]!.tokens, 64, 'the long text is truncated');
    const got = await enc.encode(texts, { batchSize: 4 });
    ref.forEach((r, i) => r.vector.forEach((x, h) => assert.ok(Math.abs(x - got[i * enc.dim + h]!) < 1e-4, `text ${i} dim ${h}`)));
  } finally {
    await enc.close();
  }
});
