// refine's finishing step in the store: a retry of the assembly after its commit writes the same
// output (same content hash); a stage whose failed entities exceed refine.failureLimit commits
// nothing and names the failures, and its next execution redoes exactly those entities.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { R4ecConfigSchema } from '../../config/schema';
import type { DatasetView } from '../../core/data/dataset';
import { RefineStage, readRecord, refusalKey, writeRecord, type EntityResult } from '../../core/refine';
import { StageFailureLimit } from '../../core/stage/failure-limit';
import { LocalStore, StageOutput } from '../../core/store';
import { ingestSynthetic, type Artifact } from '../helpers/dataset';

let dir: string;
let data: { ingest: Artifact; view: DatasetView };
let seedStore: LocalStore;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'r4ec-refine-finish-'));
  seedStore = new LocalStore(join(dir, 'seed'));
  data = await ingestSynthetic(seedStore, { users: 20, items: 60, seed: 6 });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const config = R4ecConfigSchema.parse({ finetune: { backend: 'none' } });
const entityOptions = { historyLength: config.refine.historyLength, activeUserMinInteractions: 0 };

function result(index: number, failed: boolean): EntityResult {
  const entityId = data.view.meta.users[index]!;
  return {
    domain: 'user',
    entityId,
    index,
    outcome: failed ? 'failed_transport' : 'accepted_first',
    strategy: 'iterative',
    steps: failed ? [] : [{ step: 'reason', seed: 0, model: 'm', text: `knowledge of ${entityId}`, judgement: { reasonable: true, reflection: '', model: 'm' } }],
    kar: failed ? null : `kar of ${entityId}`,
    r2ec: failed ? null : `knowledge of ${entityId}`,
    r4ec: failed ? null : { texts: [`knowledge of ${entityId}`] },
    error: failed ? { outcome: 'failed_transport', call: 'reason', message: 'LLM endpoint http://x/v1 (model m) answered 503' } : null,
    usage: { calls: 1, cacheHits: 0, promptTokens: 10, completionTokens: 5 },
    workflowId: `run/refine/user/${entityId}`,
    workflowRunId: 'exec-1',
  };
}

/** A refine(user) stage planned in its own store copy, every entity recorded; `fail(index)` picks the failed ones. */
async function recorded(name: string, fail: (index: number) => boolean) {
  const store = new LocalStore(join(dir, name));
  for (const k of await seedStore.list('ingest/')) await store.put(k, await seedStore.get(k));
  const stage = new RefineStage(store);
  const plan = await stage.plan({ runId: 'run', domain: 'user', config, ingest: data.ingest, lookupOnly: false });
  assert.equal(plan.status, 'todo');
  for (let u = 0; u < data.view.meta.users.length; u++) await writeRecord(store, plan.key, result(u, fail(u)));
  const assemble = (failureLimit?: number) =>
    stage.assemble({ runId: 'run', key: plan.key, ingestKey: data.ingest.key, domain: 'user', entities: entityOptions, strategy: 'iterative', ...(failureLimit !== undefined ? { failureLimit } : {}) });
  return { store, stage, key: plan.key, assemble };
}

test('refine assembly retried after its commit: the same files, the same content hash', async () => {
  const { store, key, assemble } = await recorded('retry', (u) => u === 3);
  const first = await assemble(0.2);
  const retry = await assemble(0.2);
  assert.equal(retry.contentHash, first.contentHash);
  assert.equal(await new StageOutput(store, key).contentHash(), first.contentHash);
  assert.equal(first.summary.outcomes.failed_transport, 1, 'one failure of 20 is within the limit');
});

test('refine over its failure limit: nothing committed, failures counted by message; the next execution redoes only the failed entities', async () => {
  const failing = (u: number) => u % 2 === 0;
  const { store, stage, key, assemble } = await recorded('limit', failing);
  const users = data.view.meta.users.length;
  const failed = Array.from({ length: users }, (_, u) => u).filter(failing);
  await assert.rejects(assemble(0.2), (e: unknown) => {
    assert.ok(e instanceof StageFailureLimit, String(e));
    assert.match(e.message, new RegExp(`^refine\\(user\\): ${failed.length} of ${users} entities failed \\(50 %\\), above refine\\.failureLimit \\(20 %\\); nothing was committed`));
    assert.match(e.message, new RegExp(`\\n  ${failed.length}× failed_transport: reason: LLM endpoint http://x/v1 \\(model m\\) answered 503`));
    return true;
  });
  assert.equal(await new StageOutput(store, key).isComplete(), false);
  assert.ok(await store.exists(refusalKey(key)));

  const again = await stage.plan({ runId: 'run', domain: 'user', config, ingest: data.ingest, lookupOnly: false });
  assert.equal(again.status, 'todo');
  assert.equal(await store.exists(refusalKey(key)), false);
  for (let u = 0; u < users; u++) assert.equal((await readRecord(store, key, u)) === undefined, failing(u), `entity ${u}`);
  const units = await stage.listUnits({ runId: 'run', key, ingestKey: data.ingest.key, domain: 'user', entities: entityOptions, cap: {}, offset: 0, limit: users });
  assert.deepEqual(
    units.flatMap((u) => (u.doneOutcome === undefined ? [u.index] : [])),
    failed,
    'exactly the failed entities run again',
  );
});
