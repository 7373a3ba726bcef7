// The construct stage's finishing step in the store, without Temporal: a retry after the commit
// (the worker died while removing the work area, or before it could report) returns the committed
// output and finishes the clean-up; a stage whose failures exceed construct.failureLimit commits
// nothing, says why, and its next execution redoes exactly the failed inferences.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ConstructSchema, DatasetSchema, LlmSchema } from '../../config/schema';
import {
  assembleConstruction,
  ConstructIncomplete,
  datasetFor,
  inferenceKey,
  loadUnits,
  planConstruction,
  recordInference,
  refusalKey,
  sampleOf,
  type ConstructPlan,
} from '../../core/construct';
import { ingest, synthesizeDataset } from '../../core/data';
import { StageFailureLimit } from '../../core/stage/failure-limit';
import { LocalStore, StageOutput, type ArtifactStore } from '../../core/store';

let dir: string;
let raw: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'r4ec-construct-finish-'));
  raw = join(dir, 'raw');
  await synthesizeDataset({ outDir: raw, seed: 4, users: 30, items: 60 });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const construct = ConstructSchema.parse({ sampleFraction: 0.5 });
const llm = LlmSchema.parse({});
const usage = { calls: 2, cacheHits: 0, promptTokens: 40, completionTokens: 20 };

/** A store with the plan written and a record for every inference; `fail(i, k)` picks the failed ones. */
async function workArea(name: string, fail: (i: number, k: number) => boolean): Promise<{ store: ArtifactStore; plan: Extract<ConstructPlan, { status: 'todo' }>; ingest: { key: string; contentHash: string } }> {
  const store = new LocalStore(join(dir, name));
  const ing = await ingest({ store, dataset: DatasetSchema.parse({ kind: 'synthetic', path: raw }), dir: raw });
  const input = { domain: 'user' as const, construct, llm, ingest: { key: ing.key, contentHash: ing.contentHash }, lookupOnly: false };
  const plan = await planConstruction(store, input);
  assert.equal(plan.status, 'todo');
  if (plan.status !== 'todo') throw new Error('unreachable');
  const ds = await datasetFor(store, ing.key);
  const units = await loadUnits(store, plan.work.workKey, 0, plan.work.units, 2);
  for (const u of units) {
    const { sample } = sampleOf(ds, 'user', u.entry);
    const failed = fail(u.planIndex, u.k);
    await recordInference(store, {
      workKey: plan.work.workKey,
      workflowId: `run/construct/user/${u.entry.entityId}/${u.k}`,
      planIndex: u.planIndex,
      k: u.k,
      seed: u.k,
      sample,
      outcome: failed ? 'failed_transport' : 'discard_wrong_reasonable',
      reason: failed ? 'reason: LlmRequestRejected: LLM endpoint http://x/v1 (model m) answered 401' : 'the verdict missed the label',
      steps: {},
      usage,
    });
  }
  return { store, plan, ingest: input.ingest };
}

const assembleInput = (plan: Extract<ConstructPlan, { status: 'todo' }>, failureLimit?: number) => ({
  key: plan.key,
  workKey: plan.work.workKey,
  domain: 'user' as const,
  inferencesPerSample: 2,
  teacher: { model: 'r4ec-sim', simulator: true },
  ...(failureLimit !== undefined ? { failureLimit } : {}),
});

test('construct assembly retried after its commit, midway through removing the work area: same output, clean-up finished', async () => {
  const { store, plan } = await workArea('retry', () => false);
  const work = await store.list(`${plan.work.workKey}/`);
  const snapshot = new Map<string, Buffer>();
  for (const k of work) snapshot.set(k, await store.get(k));
  const first = await assembleConstruction(store, assembleInput(plan));
  assert.deepEqual(await store.list(`${plan.work.workKey}/`), [], 'the first attempt removed the work area');

  // The state a SIGKILL during the clean-up leaves: committed, the first keys (sorted) removed, the rest still there.
  const removedFirst = Math.floor(work.length / 3);
  for (const k of work.slice(removedFirst)) await store.put(k, snapshot.get(k)!);
  assert.ok(!(await store.exists(inferenceKey(plan.work.workKey, 0, 0))), 'the record of inference 0/0 is gone, as in the chaos run');
  const retry = await assembleConstruction(store, assembleInput(plan));
  assert.deepEqual(retry, first, 'the retry returns the committed output and summary');
  assert.equal(await new StageOutput(store, plan.key).contentHash(), first.contentHash);
  assert.deepEqual(await store.list(`${plan.work.workKey}/`), [], 'the retry finished the clean-up');

  // Without a commit, a missing record still means the fan-out did not finish: a real error.
  const { store: s2, plan: p2 } = await workArea('incomplete', () => false);
  await s2.delete(inferenceKey(p2.work.workKey, 0, 1));
  await assert.rejects(assembleConstruction(s2, assembleInput(p2)), (e: unknown) => e instanceof ConstructIncomplete);
});

test('construct over its failure limit: nothing committed, the distinct messages with counts; the next execution redoes only the failed inferences', async () => {
  // Every third plan entry failed both inferences: about a third of all inferences.
  const failing = (i: number) => i % 3 === 0;
  const { store, plan, ingest: ing } = await workArea('limit', failing);
  const units = plan.work.units;
  const failed = Array.from({ length: units / 2 }, (_, i) => i).filter(failing).length * 2;
  await assert.rejects(assembleConstruction(store, assembleInput(plan, 0.2)), (e: unknown) => {
    assert.ok(e instanceof StageFailureLimit, String(e));
    assert.equal(e.code, 'StageFailureLimit');
    assert.equal(e.retryable, false);
    assert.match(e.message, new RegExp(`^construct \\(user\\): ${failed} of ${units} inferences failed \\(\\d+(\\.\\d)? %\\), above construct\\.failureLimit \\(20 %\\); nothing was committed`));
    assert.match(e.message, new RegExp(`\\n  ${failed}× failed_transport: reason: LlmRequestRejected: LLM endpoint http://x/v1 \\(model m\\) answered 401$`));
    assert.match(e.suggestion ?? '', /only the \d+ failed ones are redone/);
    return true;
  });
  assert.equal(await new StageOutput(store, plan.key).isComplete(), false, 'nothing under the final key');
  assert.ok(await store.exists(refusalKey(plan.work.workKey)));

  // The next execution of the stage: same key, same work area; failed records forgotten, the rest kept.
  const again = await planConstruction(store, { domain: 'user', construct, llm, ingest: ing, lookupOnly: false });
  assert.equal(again.status, 'todo');
  assert.equal(await store.exists(refusalKey(plan.work.workKey)), false);
  const after = await loadUnits(store, plan.work.workKey, 0, units, 2);
  assert.equal(after.filter((u) => u.doneOutcome === undefined).length, failed, 'exactly the failed inferences run again');
  assert.ok(after.every((u) => (u.doneOutcome === undefined) === failing(u.planIndex)));

  // A limit that admits the share commits the same records.
  const { store: s3, plan: p3 } = await workArea('limit-ok', failing);
  const done = await assembleConstruction(s3, assembleInput(p3, 0.5));
  assert.equal(done.summary.outcomes.failed_transport, failed);
});

test('a rerun with another transport retry budget continues the same output: the work area\'s records stay, a committed output is found', async () => {
  const { store, plan, ingest: ing } = await workArea('retry-budget', (i) => i === 0);
  const withAttempts = (maxAttempts: number) => planConstruction(store, { domain: 'user', construct, llm: LlmSchema.parse({ transport: { maxAttempts } }), ingest: ing, lookupOnly: false });
  // Before the commit: the same work area, every record kept (nothing asked again).
  const mid = await withAttempts(llm.transport.maxAttempts + 5);
  assert.equal(mid.status, 'todo');
  if (mid.status !== 'todo') throw new Error('unreachable');
  assert.equal(mid.key, plan.key);
  assert.equal(mid.work.workKey, plan.work.workKey);
  const units = await loadUnits(store, plan.work.workKey, 0, plan.work.units, 2);
  assert.ok(units.every((u) => u.doneOutcome !== undefined), 'every recorded inference stays recorded');
  // After the commit: the stage is done under either budget.
  const done = await assembleConstruction(store, assembleInput(plan));
  for (const maxAttempts of [1, 3, 12]) {
    const again = await withAttempts(maxAttempts);
    assert.equal(again.status, 'done', `maxAttempts ${maxAttempts}`);
    assert.equal(again.status === 'done' ? again.artifact.contentHash : '', done.contentHash);
  }
  // What the output depends on still changes the key.
  const other = await planConstruction(store, { domain: 'user', construct, llm: LlmSchema.parse({ formatRetries: llm.formatRetries + 1 }), ingest: ing, lookupOnly: false });
  assert.notEqual(other.key, plan.key);
});
