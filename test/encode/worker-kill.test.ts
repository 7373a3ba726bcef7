// Encode's durability on a real server: the gpu worker process is killed (SIGKILL) while
// encodeKnowledgeWorkflow is encoding; a new worker resumes from the heartbeated shard offset, no
// shard is encoded twice (per-shard log), and the workflow completes.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { EncodeSummary } from '../../core/encode/stage';
import type { StageResult } from '../../workflows/stage-types';
import { spawnWorker, waitExit } from '../helpers/processes';
import { startTestTemporal, testConfig, withWorkers, type TestTemporal } from '../helpers/temporal';
import { makeEncodeFixture, writeKnowledge, type Artifact, type EncodeFixture } from './fixtures';
import { ENCODER_DIR, skipWithoutEncoder } from './helpers';

interface LogLine {
  key: string;
  set: string;
  domain: string;
  shard: number;
  attempt: number;
  pid: number;
}

let t: TestTemporal;
let f: EncodeFixture;
let refine: Artifact;
before(async () => {
  if (skipWithoutEncoder()) return;
  [t, f] = await Promise.all([startTestTemporal(), makeEncodeFixture()]);
  refine = await writeKnowledge(f, { sets: ['kar'], perItem: 4 });
});
after(async () => {
  await t?.close();
  f?.cleanup();
});

test('a gpu worker killed mid-encode: the next one resumes at the shard offset, no shard twice', { skip: skipWithoutEncoder() }, async () => {
  const config = testConfig({
    encode: { modelDir: ENCODER_DIR, shardSize: 2, batchSize: 2, threads: 1, heartbeatTimeoutSeconds: 3 },
    train: { variants: ['base', 'kar'] },
  });
  const logPath = join(f.stateDir, 'logs', 'encode-shards.jsonl');
  const log = (): LogLine[] =>
    existsSync(logPath)
      ? readFileSync(logPath, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as LogLine)
      : [];

  await withWorkers(t, { queues: ['cpu'], config, deps: { store: f.store, stateDir: f.stateDir } }, async ({ config: cfg }) => {
    const env = { R4EC__QUEUES__GPU__NAME: cfg.queues.gpu.name };
    const first = spawnWorker({ queue: 'gpu', address: t.address, stateDir: f.stateDir, env });
    await first.ready;
    const handle = await t.client.workflow.start('encodeKnowledgeWorkflow', {
      taskQueue: cfg.queues.cpu.name,
      workflowId: `encode-kill-${Date.now()}`,
      args: [{ runId: 'encode-kill', config: cfg, artifacts: { ingest: f.ingest, refine } }],
    });
    // Kill once a few item shards are done, remembering the offset the server has from heartbeats.
    let offset = 0;
    for (let i = 0; log().filter((l) => l.domain === 'item').length < 3; i++) {
      assert.ok(i < 3000, 'encoding never started');
      await new Promise((r) => setTimeout(r, 20));
    }
    const pending = (await handle.describe()).raw.pendingActivities?.[0];
    const payload = pending?.heartbeatDetails?.payloads?.[0]?.data;
    if (payload) offset = (JSON.parse(Buffer.from(payload).toString()) as { nextShard: number }).nextShard;
    first.kill('SIGKILL');
    await waitExit(first);
    const before = log().filter((l) => l.domain === 'item');

    const second = spawnWorker({ queue: 'gpu', address: t.address, stateDir: f.stateDir, env });
    try {
      await second.ready;
      const res = (await handle.result()) as StageResult<EncodeSummary>;
      assert.equal(res.skipped, false);
      const items = log().filter((l) => l.domain === 'item');
      const resumed = items.filter((l) => l.pid === second.pid);
      assert.ok(before.length > 0 && resumed.length > 0, `killed mid-encode: ${before.length} shards before, ${resumed.length} after`);
      assert.ok(resumed.every((l) => l.attempt >= 2));
      assert.ok(resumed.every((l) => l.shard >= offset), `resumed at shard ${Math.min(...resumed.map((l) => l.shard))}, heartbeated offset ${offset}`);
      const shards = items.map((l) => l.shard).sort((a, b) => a - b);
      assert.deepEqual(shards, [...new Set(shards)], 'no shard encoded twice');
      assert.equal(shards.length, Math.ceil(res.summary.sets.kar!.item.texts / 2), 'every shard encoded');
      assert.ok(await f.store.exists(`${res.artifact.key}/kar/item.npy`));
    } finally {
      second.kill('SIGTERM');
      await waitExit(second);
    }
  });
});
