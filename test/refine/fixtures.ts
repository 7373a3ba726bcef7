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
): Promise<SimSetup> {
  const s = config.llm.simulator;
  const sim = await startSimulator({
    catalog: await store.localPath(`${ingestKey}/meta.json`),
    models: [s.model],
    seed: s.seed,
    faults: { latencyMs: s.latencyMs, malformedRate: s.malformedRate, rateLimitRate: s.rateLimitRate, serverErrorRate: s.serverErrorRate, retryAfterSeconds: s.retryAfterSeconds },
    ...extra,
  });
  const registry = new LlmRegistry({ llm: config.llm, stateDir, env: {}, simulatorUrl: sim.url, simulatorConcurrency: config.queues.llm.slots });
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
