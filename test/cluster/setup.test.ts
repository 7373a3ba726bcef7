// `r4ec cluster setup` and `r4ec worker` on a dev server started WITHOUT the R4ec search
// attributes, as a real cluster or a Temporal Cloud namespace is before anyone sets it up.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { SEARCH_ATTRIBUTES } from '../../config/names';
import { SA } from '../../workflows/search-attributes';
import { temporalBinary } from '../../runtime/paths';

const root = resolve(__dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'r4ec-cluster-'));
let env: TestWorkflowEnvironment;

function r4ec(args: string[], extraEnv: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [resolve(root, 'bin', 'r4ec.js'), ...args], { cwd: work, env: { ...process.env, R4EC_STATE_DIR: join(work, 'state'), ...extraEnv } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
  });
}

const on = (namespace: string) => ({ R4EC__TEMPORAL__ADDRESS: env.address, R4EC__TEMPORAL__NAMESPACE: namespace });

async function registered(namespace: string): Promise<string[]> {
  const r = await env.connection.operatorService.listSearchAttributes({ namespace });
  return Object.keys(r.customAttributes ?? {}).filter((k) => (SEARCH_ATTRIBUTES as readonly string[]).includes(k)).sort();
}

before(async () => {
  // No `searchAttributes`: the server knows none of ours.
  env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: temporalBinary() }, ip: '127.0.0.1', log: { format: 'pretty', level: 'error' } } });
});
after(async () => {
  await env?.teardown();
  rmSync(work, { recursive: true, force: true });
});

test('cluster setup adds the five search attributes; an upsert of each then works; a second setup is a no-op', async () => {
  const ns = env.namespace ?? 'default';
  assert.deepEqual(await registered(ns), []);
  // Without them a workflow that sets them cannot even start.
  await assert.rejects(
    env.client.workflow.start('upsertEveryR4ecAttribute', { taskQueue: 'nobody', workflowId: 'before-setup', args: [{ runId: 'r' }], typedSearchAttributes: [{ key: SA.runId, value: 'r' }] }),
    (e: unknown) => /no mapping defined for search attribute R4ecRunId/.test(String((e as Error).cause)),
  );

  const check = await r4ec(['cluster', 'setup', '--check'], on(ns));
  assert.equal(check.code, 1, check.stderr);
  assert.match(check.stdout, /missing search attributes R4ecRunId, R4ecStage, R4ecDomain, R4ecEntityId, R4ecOutcome \(--check: nothing changed\)/);
  assert.deepEqual(await registered(ns), [], '--check changes nothing');

  const first = await r4ec(['cluster', 'setup', '--json'], on(ns));
  assert.equal(first.code, 0, first.stderr);
  const r1 = JSON.parse(first.stdout) as { added: string[]; missing: string[]; present: string[] };
  assert.deepEqual(r1.added, [...SEARCH_ATTRIBUTES]);
  assert.deepEqual(r1.missing, []);
  assert.deepEqual(await registered(ns), [...SEARCH_ATTRIBUTES].sort());

  const second = await r4ec(['cluster', 'setup'], on(ns));
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /all 5 search attributes present .*nothing to do/);

  const taskQueue = 'cluster-setup-test';
  const worker = await Worker.create({ connection: env.nativeConnection, namespace: ns, taskQueue, workflowsPath: require.resolve('./upsert-workflow') });
  await worker.runUntil(async () => {
    const handle = await env.client.workflow.start('upsertEveryR4ecAttribute', { taskQueue, workflowId: 'after-setup', args: [{ runId: 'run-after-setup' }] });
    assert.equal(await handle.result(), 'upserted');
    const desc = await handle.describe();
    assert.equal(desc.typedSearchAttributes.get(SA.runId), 'run-after-setup');
    assert.equal(desc.typedSearchAttributes.get(SA.stage), 'construct');
    assert.equal(desc.typedSearchAttributes.get(SA.domain), 'user');
    assert.equal(desc.typedSearchAttributes.get(SA.entityId), '42');
    assert.equal(desc.typedSearchAttributes.get(SA.outcome), 'kept_reason');
  });
  // And the Web UI's query finds it by each attribute.
  const query = 'R4ecRunId = "run-after-setup" AND R4ecStage = "construct" AND R4ecDomain = "user" AND R4ecEntityId = "42" AND R4ecOutcome = "kept_reason"';
  let found: string[] = [];
  for (let i = 0; i < 50 && found.length === 0; i++) {
    found = [];
    for await (const w of env.client.workflow.list({ query })) found.push(w.workflowId);
    if (found.length === 0) await new Promise((r) => setTimeout(r, 200));
  }
  assert.deepEqual(found, ['after-setup']);
});

test('a namespace that does not exist is named, with how to create it', async () => {
  const r = await r4ec(['cluster', 'setup'], on('no-such-namespace'));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[temporal_namespace_missing\]: namespace "no-such-namespace" does not exist on 127\.0\.0\.1:\d+/);
  assert.match(r.stderr, /suggestion: create it \(`temporal operator namespace create/);
  assert.doesNotMatch(r.stderr, /unexpected|    at /, 'no stack trace');
});

test('r4ec worker sets up a fresh namespace at start, then serves', async () => {
  const ns = 'fresh-for-worker';
  execFileSync(temporalBinary(), ['operator', 'namespace', 'create', '--address', env.address, '--namespace', ns], { stdio: 'ignore' });
  for (let i = 0; i < 50; i++) {
    try {
      await env.connection.workflowService.describeNamespace({ namespace: ns });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  assert.deepEqual(await registered(ns), []);
  const child = spawn(process.execPath, [resolve(root, 'bin', 'r4ec.js'), 'worker', '--queue', 'gpu'], { cwd: work, env: { ...process.env, R4EC_STATE_DIR: join(work, 'state'), ...on(ns) } });
  let out = '';
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  try {
    for (let i = 0; i < 600 && !out.includes('workers ready') && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(out, /\[r4ec\] cluster: namespace "fresh-for-worker" at 127\.0\.0\.1:\d+: added search attributes R4ecRunId, R4ecStage, R4ecDomain, R4ecEntityId, R4ecOutcome/);
    assert.match(out, /workers ready/);
    assert.deepEqual(await registered(ns), [...SEARCH_ATTRIBUTES].sort());
  } finally {
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  }
});
