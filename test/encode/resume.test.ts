// A worker killed mid-encode (SIGKILL, no cleanup) resumes from its heartbeated shard offset and no
// completed shard is encoded again, asserted from the per-shard log; the resumed output equals an
// uninterrupted run bit for bit.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createEncodeActivities, type EncodeShardsInput } from '../../activities/encode';
import { EncodeSchema } from '../../config/schema';
import { decodeNpy } from '../../core/data/npy';
import { ENCODER_DIR, skipWithoutEncoder } from './helpers';
import { makeEncodeFixture, writeKnowledge, type Artifact, type EncodeFixture } from './fixtures';

/** `MockActivityEnvironment.run` loses the result type; this keeps it. */
function inContext<T>(env: MockActivityEnvironment, fn: () => Promise<T>): Promise<T> {
  return env.run(fn) as Promise<T>;
}

interface LogLine {
  key: string;
  set: string;
  domain: string;
  shard: number;
  pid: number;
  attempt: number;
}

describe('encodeShards resume', { skip: skipWithoutEncoder() }, () => {
  let f: EncodeFixture;
  let refine: Artifact;
  const encode = EncodeSchema.parse({ shardSize: 2, batchSize: 2, threads: 1 });
  before(async () => {
    f = await makeEncodeFixture();
    refine = await writeKnowledge(f, { sets: ['r4ec'], perItem: 4 });
  });
  after(() => f?.cleanup());

  const input = (key: string): EncodeShardsInput => ({
    key,
    set: 'r4ec',
    domain: 'item',
    refineKey: refine.key,
    ingestKey: f.ingest.key,
    modelDir: ENCODER_DIR,
    encode,
  });
  const log = (key: string): LogLine[] => {
    const p = join(f.stateDir, 'logs', 'encode-shards.jsonl');
    if (!existsSync(p)) return [];
    return readFileSync(p, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as LogLine)
      .filter((l) => l.key === key);
  };

  /** Runs encodeShards in a child and SIGKILLs it once `after` shards are logged; returns its last heartbeat. */
  async function killMidEncode(key: string, afterShards: number): Promise<{ pid: number; heartbeat: unknown }> {
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'kill-child.ts'), f.store.root, f.stateDir, JSON.stringify(input(key))], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let heartbeat: unknown;
    let buf = '';
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) if (l.startsWith('HB ')) heartbeat = JSON.parse(l.slice(3));
    });
    const exited = new Promise<NodeJS.Signals | number | null>((res) => child.on('exit', (code, sig) => res(sig ?? code)));
    const deadline = Date.now() + 120_000;
    while (log(key).length < afterShards && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL', 'the child must be killed, not finish');
    return { pid: child.pid!, heartbeat };
  }

  test('resumes from the heartbeat offset; no completed shard is encoded twice', async () => {
    const acts = createEncodeActivities({ store: f.store, stateDir: f.stateDir, env: process.env });
    const key = 'encode/resume-hb';
    const first = await killMidEncode(key, 3);
    const before = log(key);
    assert.ok(before.length >= 3 && before.every((l) => l.pid === first.pid));
    const hb = first.heartbeat as { nextShard: number; shards: number };
    assert.ok(hb && hb.nextShard >= 1, `a heartbeat with an offset was sent: ${JSON.stringify(hb)}`);
    assert.ok(before.length < hb.shards, `killed mid-encode (${before.length} of ${hb.shards} shards done)`);

    const env = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: hb });
    const res = await inContext(env, () => acts.encodeShards(input(key)));
    const second = log(key).filter((l) => l.attempt === 2);
    assert.ok(second.length > 0);
    // Resumed from the offset: nothing below it was even looked at again.
    assert.ok(second.every((l) => l.shard >= hb.nextShard), `second attempt started at ${Math.min(...second.map((l) => l.shard))}, offset ${hb.nextShard}`);
    const shards = [...before, ...second].map((l) => l.shard).sort((a, b) => a - b);
    assert.deepEqual(shards, Array.from({ length: hb.shards }, (_, i) => i), 'every shard encoded exactly once');
    assert.deepEqual({ shards: res.shards, encoded: res.encoded }, { shards: hb.shards, encoded: second.length });
  });

  test('without a heartbeat (lost with the worker) completed shards are found in the store', async () => {
    const acts = createEncodeActivities({ store: f.store, stateDir: f.stateDir, env: process.env });
    const key = 'encode/resume-nohb';
    await killMidEncode(key, 2);
    const before = log(key);
    const env = new MockActivityEnvironment({ attempt: 2 });
    const res = await inContext(env, () => acts.encodeShards(input(key)));
    const second = log(key).filter((l) => l.attempt === 2);
    const shards = [...before, ...second].map((l) => l.shard).sort((a, b) => a - b);
    assert.deepEqual(shards, Array.from({ length: res.shards }, (_, i) => i), 'every shard encoded exactly once');
    assert.ok(res.reused >= before.length);
  });

  test('the resumed output equals an uninterrupted run', async () => {
    const acts = createEncodeActivities({ store: f.store, stateDir: f.stateDir, env: process.env });
    const run = async (key: string, resumeFrom?: string) => {
      const env = new MockActivityEnvironment();
      const common = { key, refineKey: refine.key, ingestKey: f.ingest.key, modelDir: ENCODER_DIR, encode };
      if (!resumeFrom) {
        await inContext(env, () => acts.encodeShards({ ...common, set: 'r4ec', domain: 'item' }));
        await inContext(env, () => acts.encodeShards({ ...common, set: 'r4ec', domain: 'user' }));
      } else {
        await inContext(env, () => acts.encodeShards({ ...common, set: 'r4ec', domain: 'user' }));
      }
      return inContext(env, () => acts.assembleVectors({ ...common, sets: ['r4ec'] }));
    };
    const clean = await run('encode/clean');
    // encode/resume-hb's item shards were finished by the resumed attempt above.
    const resumed = await run('encode/resume-hb', 'resume-hb');
    for (const d of ['user', 'item']) {
      const a = decodeNpy(await f.store.get(`encode/clean/r4ec/${d}.npy`));
      const b = decodeNpy(await f.store.get(`encode/resume-hb/r4ec/${d}.npy`));
      assert.deepEqual(b.shape, a.shape);
      assert.deepEqual(Buffer.from(b.data.buffer), Buffer.from(a.data.buffer), `${d} vectors differ`);
    }
    assert.deepEqual(resumed.summary, clean.summary);
    // Scratch shards are gone once the output is committed.
    assert.deepEqual(await f.store.list('encode-work/encode-clean/'), []);
  });
});
