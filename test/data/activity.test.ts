// The ingestDataset activity in a mock activity context: default synthetic data generated on
// demand, heartbeats, and bad data mapped to a non-retryable DataError failure.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment as BaseMockEnv } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createIngestActivities, type IngestDatasetInput, type IngestDatasetOutput } from '../../activities/ingest';
import { SYNTH_MARKER } from '../../core/data/synth';
import { LocalStore, StageOutput } from '../../core/store';
import { makeFixture, ratingLines } from './fixtures';

const stateDir = mkdtempSync(join(tmpdir(), 'r4ec-ingest-act-'));
after(() => rmSync(stateDir, { recursive: true, force: true }));
const store = new LocalStore(join(stateDir, 'store'));
const acts = createIngestActivities({ store, stateDir, env: {} });
// Expected failures would otherwise be logged at length by the default logger.
class MockActivityEnvironment extends BaseMockEnv {
  constructor() {
    super(undefined, { logger: new DefaultLogger('ERROR') });
  }
  ingest(input: IngestDatasetInput): Promise<IngestDatasetOutput> {
    return this.run(acts.ingestDataset, input) as Promise<IngestDatasetOutput>;
  }
}

test('default config: synthetic data is generated under <stateDir>/data/synthetic and ingested, then reused', async () => {
  const env = new MockActivityEnvironment();
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(d));
  const r = await env.ingest({ dataset: {} });
  assert.ok(existsSync(join(stateDir, 'data', 'synthetic', SYNTH_MARKER)));
  assert.equal(r.dir, join(stateDir, 'data', 'synthetic'));
  assert.equal(r.skipped, false);
  assert.equal(r.summary.users, 300);
  assert.ok(r.summary.train > 0 && r.summary.test > 0);
  assert.ok(await new StageOutput(store, r.key).isComplete());
  assert.ok(beats.some((b) => (b as { phase?: string }).phase === 'write'), 'heartbeats report progress');
  const again = await new MockActivityEnvironment().ingest({ dataset: { kind: 'synthetic' } });
  assert.equal(again.skipped, true);
  assert.equal(again.key, r.key);
});

test('bad data: non-retryable ApplicationFailure of type DataError with file and line in its details', async () => {
  const f = makeFixture({ ratings: ratingLines().map((l, i) => (i === 3 ? '1::3::9::978300760' : l)) });
  const before = await store.list('ingest/');
  try {
    await assert.rejects(new MockActivityEnvironment().ingest({ dataset: { kind: 'ml-1m', path: f.dir } }), (e: unknown) => {
      assert.ok(e instanceof ApplicationFailure, String(e));
      assert.equal(e.type, 'DataError');
      assert.equal(e.nonRetryable, true);
      assert.match(e.message, /ratings\.dat:4: field "Rating"/);
      const d = e.details?.[0] as { line: number; field: string; file: string };
      assert.equal(d.line, 4);
      assert.equal(d.field, 'Rating');
      return true;
    });
    assert.deepEqual(await store.list('ingest/'), before, 'nothing new in the store');
  } finally {
    f.cleanup();
  }
});

test('ml-1m without dataset.path and malformed input fail without a retry', async () => {
  await assert.rejects(
    new MockActivityEnvironment().ingest({ dataset: { kind: 'ml-1m' } }),
    (e: unknown) => e instanceof ApplicationFailure && e.type === 'DataError' && e.nonRetryable && /dataset\.path/.test(e.message),
  );
  await assert.rejects(
    new MockActivityEnvironment().ingest({ dataset: { kind: 'netflix' } } as unknown as IngestDatasetInput),
    (e: unknown) => e instanceof ApplicationFailure && e.type === 'InvalidActivityInput' && e.nonRetryable,
  );
});
