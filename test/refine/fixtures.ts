// A small synthetic dataset ingested into a test store, a simulator on its catalog, and the LLM
// registry a test's llm worker uses (so a test controls faults and the simulator's behaviour).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatasetSchema, R4ecConfigSchema, type R4ecConfig, type R4ecConfigInput } from '../../config/schema';
import { loadDataset, type DatasetView } from '../../core/data/dataset';
import { ingest } from '../../core/data/ingest';
import { synthesizeDataset } from '../../core/data/synth';
import { LlmRegistry } from '../../core/llm/registry';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../core/sim/server';
import type { ArtifactStore } from '../../core/store';

export interface Artifact {
  key: string;
  contentHash: string;
}

/** Synthesizes `users` × `items` MovieLens-format data and ingests it with the project's ingest. */
export async function ingestSynthetic(store: ArtifactStore, opts: { users: number; items: number; seed?: number }): Promise<{ ingest: Artifact; view: DatasetView }> {
  const dir = mkdtempSync(join(tmpdir(), 'r4ec-refine-data-'));
  try {
    await synthesizeDataset({ outDir: dir, seed: opts.seed ?? 7, users: opts.users, items: opts.items });
    const r = await ingest({ store, dataset: DatasetSchema.parse({ kind: 'synthetic' }), dir });
    return { ingest: { key: r.key, contentHash: r.contentHash }, view: await loadDataset(store, r.key) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface SimSetup {
  sim: RunningSimulator;
  registry: LlmRegistry;
  close(): Promise<void>;
}

/** A simulator that knows the dataset's catalog, and a registry for the llm worker that asks it. */
export async function simulatorFor(
  store: ArtifactStore,
  ingestKey: string,
  config: R4ecConfig,
  stateDir: string,
  extra: Partial<SimulatorOptions> = {},
  /** The registry's fetch: a test may watch every request the workers send (they still go over HTTP). */
  fetch?: typeof globalThis.fetch,
): Promise<SimSetup> {
  const s = config.llm.simulator;
  const sim = await startSimulator({
    catalog: await store.localPath(`${ingestKey}/meta.json`),
    models: [s.model],
    seed: s.seed,
    faults: { latencyMs: s.latencyMs, malformedRate: s.malformedRate, rateLimitRate: s.rateLimitRate, serverErrorRate: s.serverErrorRate, retryAfterSeconds: s.retryAfterSeconds },
    ...extra,
  });
  const registry = new LlmRegistry({ llm: config.llm, stateDir, env: {}, simulatorUrl: sim.url, simulatorConcurrency: config.queues.llm.slots, ...(fetch ? { fetch } : {}) });
  return { sim, registry, close: () => sim.close() };
}

/** Test config: small windows and pages, quick transport retries. */
export function refineConfig(over: R4ecConfigInput = {}): R4ecConfig {
  return R4ecConfigSchema.parse({
    ...over,
    llm: { formatRetries: 1, ...over.llm, transport: { initialIntervalMs: 50, maximumIntervalMs: 200, ...over.llm?.transport }, simulator: { retryAfterSeconds: 0.05, ...over.llm?.simulator } },
    refine: { window: 16, batchPerRun: 40, ...over.refine },
  });
}


export interface SimProcess {
  url: string;
  pid: number;
  /** Entries of the simulator's request log (JSONL under the given state dir). */
  requests(): Array<{ hash: string; outcome: string; at: string; latencyMs?: number }>;
  close(): Promise<void>;
}

/**
 * The simulator in its own process (`r4ec sim-llm`), as a real endpoint would be: the workers'
 * process then does only orchestration and client work.
 */
export async function spawnSimulator(opts: { catalog: string; stateDir: string; latencyMs?: number; malformedRate?: number; rateLimitRate?: number; model?: string }): Promise<SimProcess> {
  const { spawn } = await import('node:child_process');
  const { readFileSync, existsSync, mkdirSync } = await import('node:fs');
  // sim-llm opens its log without creating the folder.
  mkdirSync(join(opts.stateDir, 'logs'), { recursive: true });
  const { resolve } = await import('node:path');
  const root = resolve(__dirname, '..', '..');
  const args = ['--import', 'tsx', resolve(root, 'cli', 'main.ts'), 'sim-llm', '--port', '0', '--catalog', opts.catalog, '--latency-ms', String(opts.latencyMs ?? 0)];
  if (opts.malformedRate !== undefined) args.push('--malformed-rate', String(opts.malformedRate));
  if (opts.rateLimitRate !== undefined) args.push('--rate-limit-rate', String(opts.rateLimitRate));
  if (opts.model) args.push('--model', opts.model);
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, R4EC_STATE_DIR: opts.stateDir }, stdio: ['ignore', 'ignore', 'pipe'] });
  const url = await new Promise<string>((res, rej) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /at (http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(err);
      if (m) res(m[1]!);
    });
    child.once('exit', (code) => rej(new Error(`sim-llm exited (${code}):\n${err}`)));
  });
  const log = join(opts.stateDir, 'logs', 'sim-requests.jsonl');
  return {
    url,
    pid: child.pid!,
    requests: () =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as { hash: string; outcome: string; at: string; latencyMs?: number })
        : [],
    close: () =>
      new Promise<void>((res) => {
        if (child.exitCode !== null) return res();
        child.once('exit', () => res());
        child.kill('SIGTERM');
      }),
  };
}
