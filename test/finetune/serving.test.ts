// Adapters for a serving host: the finetune stage's adapter is in the store (S3 on a real versitygw
// server); an llm worker on another machine (its own store object and empty cache) loads it into a
// vLLM-compatible server (the simulator's /v1/load_lora_adapter) at a path the server reads, never the
// trainer's local path: a shared volume it copies the adapter to, a server-side sync directory, or
// (server on the same machine) its own local copy.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { R4ecConfigSchema } from '../../config/schema';
import { createAdapterServingActivities } from '../../activities/finetune';
import { adapterPathForServer, registerAdapter, type AdapterEntry } from '../../core/finetune';
import { LlmRegistry } from '../../core/llm/registry';
import { startSimulator, type RunningSimulator } from '../../core/sim/server';
import { startTestS3, type TestS3 } from '../helpers/s3';
import { CATALOG } from '../sim/fixtures';

const work = mkdtempSync(join(tmpdir(), 'r4ec-serving-'));
let s3: TestS3;
let sim: RunningSimulator;
before(async () => {
  s3 = await startTestS3();
  sim = await startSimulator({ catalog: CATALOG, models: ['base-model'], seed: 1 });
});
after(async () => {
  await sim.close();
  await s3.stop();
  rmSync(work, { recursive: true, force: true });
});

const entryBase = (jobKey: string): Omit<AdapterEntry, 'adapterKey'> => ({
  jobKey,
  job: 'user-actor',
  domain: 'user',
  role: 'actor',
  backend: 'local',
  baseModel: '/models/base',
  servedName: `r4ec-${jobKey}`,
  dataHash: 'd1',
  records: 10,
  hyperParameters: {},
  metrics: {},
  jobId: `local:${jobKey}`,
  createdAt: new Date().toISOString(),
});

/** The gpu worker's trainer output: registered from a local directory that is then gone. */
async function trainedAdapter(bucket: string, jobKey: string): Promise<AdapterEntry> {
  const gpuStore = await s3.store({ bucket });
  const dir = join(work, `trainer-${jobKey}`);
  mkdirSync(join(dir, 'nested'), { recursive: true });
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ r: 8, base_model_name_or_path: '/models/base' }));
  writeFileSync(join(dir, 'adapter_model.safetensors'), Buffer.alloc(4096, 7));
  writeFileSync(join(dir, 'nested', 'extra.txt'), 'x');
  const { entry } = await registerAdapter(gpuStore, entryBase(jobKey), dir);
  rmSync(dir, { recursive: true, force: true });
  return entry;
}

async function servedPath(name: string): Promise<string | undefined> {
  const body = (await (await fetch(`${sim.url}/v1/models`)).json()) as { data: Array<{ id: string; root?: string }> };
  return body.data.find((m) => m.id === name)?.root;
}

test('a shared volume: the llm worker copies the adapter from the store and the server is told its own path to it', async () => {
  const bucket = 'serving-a';
  await s3.createBucket(bucket);
  const entry = await trainedAdapter(bucket, 'job-a');
  const volume = join(work, 'volume');
  const config = R4ecConfigSchema.parse({ llm: { actor: { baseUrl: `${sim.url}/v1`, model: 'base-model', adapters: { dir: volume, serverDir: '/mnt/r4ec-adapters' } } } });
  const stateDir = mkdtempSync(join(work, 'llm-host-'));
  const store = await s3.store({ bucket });
  const llm = new LlmRegistry({ llm: config.llm, store, stateDir, env: {} });
  const acts = createAdapterServingActivities({ store, stateDir, env: {}, llm });

  const r = await acts.loadFinetunedAdapter({ jobKey: entry.jobKey });
  assert.deepEqual([r.loaded, r.alreadyLoaded, r.servedName], [true, false, entry.servedName]);
  assert.equal(await servedPath(entry.servedName), '/mnt/r4ec-adapters/job-a');
  const copied = join(volume, 'job-a');
  assert.deepEqual(readdirSync(copied).sort(), ['_manifest.json', 'adapter_config.json', 'adapter_model.safetensors', 'entry.json', 'nested', 'r4ec-adapter-source.json']);
  assert.deepEqual(readFileSync(join(copied, 'adapter_model.safetensors')), Buffer.alloc(4096, 7));

  // A retried activity (or another llm worker) finds the copy in place and the adapter loaded.
  const before = readFileSync(join(copied, 'r4ec-adapter-source.json'), 'utf8');
  const again = await acts.loadFinetunedAdapter({ jobKey: entry.jobKey });
  assert.equal(again.alreadyLoaded, true);
  assert.equal(readFileSync(join(copied, 'r4ec-adapter-source.json'), 'utf8'), before);
  // A damaged copy is rebuilt from the store.
  writeFileSync(join(copied, 'r4ec-adapter-source.json'), 'stale');
  rmSync(join(copied, 'adapter_model.safetensors'));
  assert.equal(await adapterPathForServer(store, entry, { dir: volume }), join(volume, 'job-a'));
  assert.deepEqual(readFileSync(join(copied, 'adapter_model.safetensors')), Buffer.alloc(4096, 7));
});

test('a server-side sync directory: nothing is copied, the server is told the path under it', async () => {
  const bucket = 'serving-b';
  await s3.createBucket(bucket);
  const entry = await trainedAdapter(bucket, 'job-b');
  const store = await s3.store({ bucket });
  assert.equal(await adapterPathForServer(store, entry, { serverDir: '/srv/adapters' }), '/srv/adapters/job-b');
});

test('no placement: the worker\'s own copy from the store (a server on the same machine), complete with every file', async () => {
  const bucket = 'serving-c';
  await s3.createBucket(bucket);
  const entry = await trainedAdapter(bucket, 'job-c');
  const store = await s3.store({ bucket });
  const local = await adapterPathForServer(store, entry);
  assert.ok(local.startsWith(store.options.cacheDir), local);
  assert.deepEqual(readFileSync(join(local, 'adapter_model.safetensors')), Buffer.alloc(4096, 7));
  assert.equal(readFileSync(join(local, 'nested', 'extra.txt'), 'utf8'), 'x');
});

test('config: an adapters block names at least one of dir and serverDir', () => {
  const r = R4ecConfigSchema.safeParse({ llm: { actor: { baseUrl: 'http://127.0.0.1:9/v1', model: 'm', adapters: {} } } });
  assert.ok(!r.success);
  assert.match(r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'), /llm\.actor\.adapters: give adapters\.dir/);
});
