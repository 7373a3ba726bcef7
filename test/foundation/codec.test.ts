import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Client } from '@temporalio/client';
import { R4ecError } from '../../core/errors';
import { AesGcmCodec, codecFromEnv } from '../../runtime/codec';
import { temporalBinary } from '../../runtime/paths';
import { startTestTemporal, withWorkers, type TestTemporal } from '../helpers/temporal';

let t: TestTemporal;
before(async () => {
  t = await startTestTemporal();
});
after(async () => {
  await t?.close();
});

test('codec round-trips payloads and rejects tampering', async () => {
  const codec = new AesGcmCodec(randomBytes(32));
  const payload = { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{"history":["Heat (1995)",5]}') };
  const [enc] = await codec.encode([payload]);
  assert.ok(!Buffer.from(enc!.data!).toString('latin1').includes('Heat'));
  const [dec] = await codec.decode([enc!]);
  assert.equal(Buffer.from(dec!.data!).toString(), '{"history":["Heat (1995)",5]}');
  const tampered = { ...enc!, data: Buffer.from(enc!.data!) };
  tampered.data[tampered.data.length - 1]! ^= 1;
  await assert.rejects(codec.decode([tampered]));
});

test('codec key comes from the env var named in config, with a clear error when missing or wrong', () => {
  assert.equal(codecFromEnv({ enabled: false, keyEnv: 'K' }, {}), undefined);
  assert.throws(() => codecFromEnv({ enabled: true, keyEnv: 'K' }, {}), (e: unknown) => e instanceof R4ecError && e.code === 'codec_key_missing' && !!e.suggestion);
  assert.throws(() => codecFromEnv({ enabled: true, keyEnv: 'K' }, { K: Buffer.from('short').toString('base64') }), (e: unknown) => e instanceof R4ecError && e.code === 'codec_key_invalid');
  assert.ok(codecFromEnv({ enabled: true, keyEnv: 'K' }, { K: randomBytes(32).toString('base64') }) instanceof AesGcmCodec);
});

test('with the codec on, the raw history in the server holds no plaintext of a known prompt', async () => {
  const secretText = `User History: ["Amélie (2001)", 5] marker-${Date.now()}`;
  const dataConverter = { payloadCodecs: [new AesGcmCodec(randomBytes(32))] };
  await withWorkers(t, { queues: ['cpu'], dataConverter }, async ({ config }) => {
    const client = new Client({ connection: t.client.connection, namespace: t.namespace, dataConverter });
    const workflowId = `codec-${Date.now()}`;
    const out = await client.workflow.execute('smokeWorkflow', { taskQueue: config.queues.cpu.name, workflowId, args: [{ key: 'codec/one', text: secretText }] });
    assert.equal(out.key, 'codec/one');
    assert.equal((await t.store.get('codec/one/text.txt')).toString(), secretText, 'the worker saw the plaintext');
    const raw = execFileSync(temporalBinary(), ['workflow', 'show', '--address', t.address, '-w', workflowId, '-o', 'json']).toString();
    assert.ok(raw.includes(Buffer.from('binary/encrypted').toString('base64')), 'payloads are marked encrypted');
    for (const needle of ['marker-', 'Amélie', 'User History']) {
      assert.ok(!raw.includes(needle), `plaintext "${needle}" found in raw history`);
      assert.ok(!raw.includes(Buffer.from(needle).toString('base64').slice(0, 8)), `base64 of "${needle}" found in raw history`);
    }
  });
});
