// The encode output key follows the encoder's content: any file of the directory (external weights
// included) or its config changes it; copying the directory elsewhere does not.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { encoderIdentity } from '../../core/encode/model';
import { encodeStageKey } from '../../core/encode/stage';

const root = mkdtempSync(join(tmpdir(), 'r4ec-ident-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('encoder identity changes with any file or the config, not with the location', async () => {
  const a = join(root, 'a');
  mkdirSync(a);
  const write = (dir: string, name: string, data: string) => writeFileSync(join(dir, name), data);
  write(a, 'model.onnx', 'graph');
  write(a, 'model.onnx_data', 'weights-1');
  write(a, 'tokenizer.json', '{}');
  write(a, 'r4ec-encoder.json', JSON.stringify({ pooling: 'cls', normalize: true, maxLength: 8 }));
  const key = async (dir: string) => encodeStageKey({ sets: ['r4ec'], encoder: await encoderIdentity(dir), refineHash: 'r', ingestHash: 'i' });

  const b = join(root, 'b');
  cpSync(a, b, { recursive: true });
  const base = await key(a);
  assert.equal(await key(b), base, 'same content elsewhere, same key');
  write(b, 'model.onnx_data', 'weights-2');
  assert.notEqual(await key(b), base, 'external weights changed');
  cpSync(a, b, { recursive: true });
  write(b, 'r4ec-encoder.json', JSON.stringify({ pooling: 'mean', normalize: true, maxLength: 8 }));
  assert.notEqual(await key(b), base, 'pooling changed');
  assert.notEqual(
    encodeStageKey({ sets: ['r4ec', 'kar'], encoder: await encoderIdentity(a), refineHash: 'r', ingestHash: 'i' }),
    base,
    'another set list',
  );
});
