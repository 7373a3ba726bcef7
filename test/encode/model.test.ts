// The ONNX encoder against an independent reference (Python onnxruntime + HF tokenizers, one text at a
// time, no padding), and the behaviour a sentence encoder must show.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OnnxEncoder } from '../../core/encode';
import { DataError } from '../../core/data/errors';
import { ENCODER_DIR, dot, pythonReference, row, skipWithoutEncoder, skipWithoutPython } from './helpers';

const LONG = Array.from({ length: 120 }, (_, i) => `Sentence ${i} keeps going about thrillers, comedies and dramas.`).join(' ');
const TEXTS = [
  'This user enjoys dark psychological thrillers and crime dramas from the 1990s.',
  'Likes romantic comedies.',
  'A feel-good animated family film with talking animals — rated PG.',
  'Naïve café owner’s résumé: “déjà vu” in Zürich!',
  '日本のアニメ映画が好きです。',
  'emoji 🎬🍿 and punctuation?!... (parentheses) [brackets] {braces}',
  '   leading and trailing spaces   ',
  'x',
  LONG,
  'Prefers science fiction with space exploration, e.g. 2001: A Space Odyssey (1968).',
];

describe('OnnxEncoder', { skip: skipWithoutEncoder() }, () => {
  let enc: OnnxEncoder;
  before(async () => {
    enc = await OnnxEncoder.open(ENCODER_DIR);
  });
  after(async () => {
    await enc?.close();
  });

  test('vectors equal Python onnxruntime + tokenizers to 1e-4, at any batch size', { skip: skipWithoutPython() }, async () => {
    const ref = pythonReference(ENCODER_DIR, TEXTS);
    const toks = await enc.tokenize(TEXTS);
    // The long text must actually be truncated, or the truncation path is untested.
    assert.equal(toks[8]!.ids.length, enc.config.maxLength);
    toks.forEach((t, i) => assert.equal(t.ids.length, ref[i]!.tokens, `token count of text ${i}`));
    for (const batchSize of [1, 3, 32]) {
      const got = await enc.encode(TEXTS, { batchSize });
      let worst = 0;
      TEXTS.forEach((_, i) => {
        const g = row(got, i, enc.dim);
        ref[i]!.vector.forEach((v, h) => (worst = Math.max(worst, Math.abs(v - g[h]!))));
      });
      assert.ok(worst < 1e-4, `batch ${batchSize}: max abs difference ${worst}`);
      console.log(`batch ${batchSize}: max abs difference ${worst.toExponential(2)}`);
    }
  });

  test('a token budget splits batches without changing the vectors', async () => {
    let calls = 0;
    const whole = await enc.encode(TEXTS, { batchSize: 32 });
    const split = await enc.encode(TEXTS, { batchSize: 32, maxBatchTokens: 40, onBatch: () => calls++ });
    // Under 40 padded tokens short texts still share a batch but the long ones run alone.
    const lengths = (await enc.tokenize(TEXTS)).map((t) => t.ids.length);
    const alone = lengths.filter((l) => 2 * l > 40).length;
    assert.ok(calls >= alone + 1 && calls < TEXTS.length, `${calls} model calls for token lengths ${lengths.join(',')}`);
    whole.forEach((x, i) => assert.ok(Math.abs(x - split[i]!) < 1e-5, `value ${i}`));
  });

  test('similar sentences score higher than unrelated ones', async () => {
    const texts = [
      'A man is eating food.',
      'A man is eating a piece of bread.',
      'The new movie is awesome.',
      'The new film is so great.',
      'Interest rates were raised by the central bank.',
    ];
    const v = await enc.encode(texts);
    const s = (a: number, b: number) => dot(row(v, a, enc.dim), row(v, b, enc.dim));
    assert.ok(s(0, 1) > s(0, 2) && s(0, 1) > s(0, 4), `eating: ${s(0, 1)} vs ${s(0, 2)}, ${s(0, 4)}`);
    assert.ok(s(2, 3) > s(2, 0) && s(2, 3) > s(2, 4), `movie: ${s(2, 3)} vs ${s(2, 0)}, ${s(2, 4)}`);
    assert.ok(Math.abs(s(4, 4) - 1) < 1e-5, 'normalised');
  });

  test('an empty text and an empty list do not break a batch', async () => {
    assert.equal((await enc.encode([])).length, 0);
    const v = await enc.encode(['', 'something'], { batchSize: 2 });
    assert.equal(v.length, 2 * enc.dim);
    assert.ok(v.every(Number.isFinite));
  });
});

describe('encoder directory checks', { skip: skipWithoutEncoder() }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'r4ec-enc-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a config with a bad field is named in the error', async () => {
    cpSync(ENCODER_DIR, dir, { recursive: true, dereference: true });
    writeFileSync(join(dir, 'r4ec-encoder.json'), JSON.stringify({ pooling: 'max', normalize: true, maxLength: 128 }));
    await assert.rejects(OnnxEncoder.open(dir), (e: unknown) => e instanceof DataError && e.field === 'pooling' && e.file.endsWith('r4ec-encoder.json'));
  });

  test('a wrong declared dimension fails at open, not mid-run', async () => {
    writeFileSync(join(dir, 'r4ec-encoder.json'), JSON.stringify({ pooling: 'cls', normalize: false, maxLength: 16, dim: 1024 }));
    await assert.rejects(OnnxEncoder.open(dir), /says dim 1024 but the model produces 384/);
  });

  test('a directory without a model says how to get one', async () => {
    await assert.rejects(OnnxEncoder.open(join(dir, 'nope')), /no model\.onnx.*scripts\/setup\.sh/);
  });
});
