// Two worker "hosts" with nothing shared but the S3 server: one Temporal dev server (started bare,
// as a real cluster is; the workers register the search attributes), one S3 server (versitygw), the
// LLM simulator as its own process (`r4ec sim-llm`) that every role points at, and two `r4ec worker`
// processes for all queues, each with its own empty state dir and the S3 store. The synthetic pipeline
// runs through `r4ec run` (a client only: temporal.address is set). One host is SIGKILLed mid-construct
// and its state dir deleted (a fresh host takes its place), then the host training a CTR model is
// SIGKILLed once that model's first epoch checkpoint is in the store, and its state dir deleted too.
// The run completes on the other host; no completed LLM call is sent again beyond the ones in flight
// at the kill; the killed CTR job resumed from its stored checkpoint, not from epoch 0.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { synthesizeDataset } from '../../core/data/synth';
import type { S3Store } from '../../core/store/s3';
import { temporalBinary } from '../../runtime/paths';
import { startTestS3, type TestS3 } from '../helpers/s3';

const root = resolve(__dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'r4ec-multihost-'));
const children: ChildProcess[] = [];
let s3: TestS3 | undefined;
let temporal: TestWorkflowEnvironment | undefined;
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await temporal?.teardown();
  await s3?.stop();
  if (!process.env.R4EC_KEEP_STATE) rmSync(work, { recursive: true, force: true });
});

type Proc = ChildProcess & { out: () => string; exited: Promise<number | null> };

function r4ec(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, [resolve(root, 'bin', 'r4ec.js'), ...args], { cwd: work, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return Object.assign(child, { out: () => out, exited });
}

async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function simLog(simState: string): Array<{ hash: string; outcome: string; kind: string | null }> {
  const path = join(simState, 'logs', 'sim-requests.jsonl');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { hash: string; outcome: string; kind: string | null });
}

test('two hosts sharing only S3: a host killed mid-construct and one killed mid-train, state dirs deleted; the run completes, completed calls are not repeated, the CTR job resumes from its stored checkpoint', { timeout: 20 * 60_000 }, async () => {
  s3 = await startTestS3({ dir: join(work, 's3-server') });
  const bucket = 'r4ec-multihost';
  await s3.createBucket(bucket);
  // No search attributes: `r4ec worker` registers them, as on a cluster nobody set up.
  temporal = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: temporalBinary() }, ip: '127.0.0.1', log: { format: 'pretty', level: 'error' } } });

  // The run's input data, read by whichever host runs ingest (an input, not any host's state).
  const data = join(work, 'input', 'small');
  mkdirSync(data, { recursive: true });
  await synthesizeDataset({ outDir: data, seed: 3, users: 60, items: 90 });
  const catalog = readFileSync(join(data, 'movies.dat'), 'latin1')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [id, title, genres] = l.split('::');
      return { id, title, genres };
    });
  writeFileSync(join(work, 'catalog.json'), JSON.stringify(catalog));

  // The simulator on its own, reachable by both hosts; its request log is in its own state dir.
  const simState = join(work, 'sim-state');
  const sim = r4ec(['sim-llm', '--port', '0', '--catalog', join(work, 'catalog.json'), '--latency-ms', '40'], { R4EC_STATE_DIR: simState });
  const simUrl = await waitFor('the simulator', () => /at (http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(sim.out())?.[1], 60_000);
  const role = { baseUrl: `${simUrl}/v1`, model: 'r4ec-sim', timeoutMs: 10_000 };

  const config = {
    temporal: { address: temporal.address, namespace: temporal.namespace ?? 'default' },
    store: { kind: 's3', bucket, prefix: 'r4ec/', endpoint: s3.endpoint, region: s3.region },
    dataset: { kind: 'synthetic', path: data },
    llm: { teacher: role, actor: role, reflection: role },
    construct: { heartbeatTimeoutSeconds: 5 },
    finetune: { backend: 'none' },
    train: { backbones: ['deepfm'], variants: ['base', 'r4ec'], seeds: [1], epochs: 6, patience: 6, floor: false, heartbeatTimeoutSeconds: 10 },
  };
  const cfg = join(work, 'cluster.json');
  writeFileSync(cfg, JSON.stringify(config));

  // Credentials from the standard AWS environment chain, as on a real host; a slow trainer step so
  // the train kill lands between epochs.
  const hostEnv = (stateDir: string) => ({ ...s3!.env, R4EC_STATE_DIR: stateDir, R4EC_CTR_STEP_DELAY_MS: '250' });
  const startHost = async (name: string): Promise<{ name: string; stateDir: string; proc: Proc }> => {
    const stateDir = join(work, `${name}-state`);
    mkdirSync(stateDir);
    const proc = r4ec(['worker', '--queue', 'cpu,llm,gpu', '--config', cfg], hostEnv(stateDir));
    await waitFor(`${name} ready`, () => proc.out().includes('workers ready') || (proc.exitCode !== null && Promise.reject(new Error(`${name} exited:\n${proc.out()}`))), 120_000, 200);
    return { name, stateDir, proc };
  };
  const kill = async (h: { name: string; stateDir: string; proc: Proc }) => {
    h.proc.kill('SIGKILL');
    await h.proc.exited;
    rmSync(h.stateDir, { recursive: true, force: true });
  };

  const hostA = await startHost('host-a');
  const hostB = await startHost('host-b');
  const run = r4ec(['run', '--config', cfg, '--run-id', 'multi-host', '--json'], { ...s3.env, R4EC_STATE_DIR: join(work, 'client-state') });

  // Kill host A once construction is well under way.
  await waitFor('construct calls', () => simLog(simState).filter((e) => e.kind?.includes('construct')).length >= 25 || (run.exitCode !== null && Promise.reject(new Error(run.out()))), 10 * 60_000, 50);
  const loggedAtKill = simLog(simState).length;
  await kill(hostA);
  const hostC = await startHost('host-c');

  // Then the host training a CTR model, once that model has an epoch checkpoint in the store.
  const store: S3Store = await s3.store({ bucket, prefix: 'r4ec/' });
  const hosts = [hostB, hostC];
  const victim = await waitFor(
    'a stored CTR checkpoint',
    async () => {
      if (run.exitCode !== null) throw new Error(`the run ended before training was killed:\n${run.out()}`);
      const index = (await store.list('checkpoints/train-model/')).find((k) => k.includes('/index/'));
      if (!index) return undefined;
      const modelKey = index.slice('checkpoints/'.length, index.indexOf('/index/'));
      const host = hosts.find((h) => existsSync(join(h.stateDir, 'train', modelKey.replace(/\//g, '-'))));
      return host ? { modelKey, host } : undefined;
    },
    10 * 60_000,
    50,
  );
  await kill(victim.host);
  const survivor = hosts.find((h) => h !== victim.host)!;

  const code = await run.exited;
  assert.equal(code, 0, run.out());
  const summary = JSON.parse(run.out().split('\n').find((l) => l.startsWith('{"runId"'))!) as { stages: Record<string, { status: string }>; artifacts: Record<string, { key: string }> };
  for (const s of ['ingest', 'construct', 'refine', 'encode', 'train', 'report']) assert.equal(summary.stages[s]?.status, 'completed', `${s}: ${JSON.stringify(summary.stages[s])}`);
  assert.equal(survivor.proc.exitCode, null, 'the other host is still serving');

  // No completed request answered twice, apart from those in flight on host A at its kill: at most
  // the endpoint's 16 concurrent requests (a request's slot is free only once its answer is in the
  // answer cache, so an answer still being written counts as in flight).
  const log = simLog(simState);
  const ok = new Map<string, number>();
  for (const e of log) if (e.outcome === 'ok') ok.set(e.hash, (ok.get(e.hash) ?? 0) + 1);
  const repeated = [...ok.values()].filter((n) => n > 1).length;
  assert.ok(log.length > loggedAtKill + 20, 'calls went on after the first kill');
  assert.ok(repeated <= 16, `${repeated} completed requests were sent again`);

  // The killed CTR job resumed on the other host from its stored checkpoint.
  const manifest = JSON.parse((await store.get(`${victim.modelKey}/_manifest.json`)).toString('utf8')) as { meta: { resumedFromEpoch?: number; restoredCheckpoint?: string } };
  assert.ok((manifest.meta.resumedFromEpoch ?? 0) >= 1, `resumed from epoch ${manifest.meta.resumedFromEpoch}`);
  assert.match(manifest.meta.restoredCheckpoint ?? '', /^ckpt-epoch-\d{4}\.pt$/);
  // Committed models leave no checkpoints behind; the answers, usage records are in the store.
  assert.deepEqual(await store.list('checkpoints/'), []);
  assert.ok((await store.list('llm-cache/')).length >= ok.size * 0.9);
  assert.ok((await store.list('llm-usage/multi-host/')).length > 0);
  sim.kill('SIGTERM');
});
