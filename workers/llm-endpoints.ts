// The llm worker's endpoints: the configured endpoint per role, and the offline simulator for every
// role without one (docs/DESIGN.md, "The offline LLM"), started here on loopback. The simulator's world
// knowledge is the catalog of every ingested dataset in the store (titles, years, genres — never
// ratings), merged by title and refreshed when a new dataset appears. The roles listed in
// llm.serveModel.roles are answered by the local model server (core/model-server), started here too:
// its model process is owned by this one (it dies with it) and stops when the worker's resources close.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LLM_ROLES } from '../config/names';
import type { R4ecConfig } from '../config/schema';
import { R4ecError } from '../core/errors';
import { LlmRegistry } from '../core/llm/registry';
import { baseModelName, ModelEngine, servedBaseDir, startModelServer, type RunningModelServer } from '../core/model-server';
import { TRAINER_ROOT, trainerPython } from '../core/python-job/python';
import { roleSource } from '../core/rules/roles';
import { parseCatalog, simulatorFaults, startSimulator, type CatalogItem, type RunningSimulator } from '../core/sim';
import type { ArtifactStore } from '../core/store';

const RESCAN_MS = 250;

export class LlmEndpoints {
  private sim: RunningSimulator | undefined;
  private readonly loaded = new Set<string>();
  private items: CatalogItem[] = [];
  private lastScan = 0;
  private scanning: Promise<void> | undefined;

  private constructor(
    readonly registry: LlmRegistry,
    private readonly store: ArtifactStore,
    sim: RunningSimulator | undefined,
    private modelServer: { server: RunningModelServer; engine: ModelEngine; model: string } | undefined,
  ) {
    this.sim = sim;
  }

  private static async startModelServer(config: R4ecConfig, env: NodeJS.ProcessEnv): Promise<{ server: RunningModelServer; engine: ModelEngine; model: string }> {
    const s = config.llm.serveModel;
    const base = servedBaseDir(config);
    if (!existsSync(join(base, 'config.json'))) {
      throw new R4ecError(
        `llm.serveModel: no model at "${base}" (expected a Hugging Face model directory with config.json, weights and a tokenizer with a chat template)`,
        'model_missing',
        { suggestion: s.base ? 'check llm.serveModel.base' : 'run `npm run setup` (installs SmolLM2-135M-Instruct at .tools/smollm2), or set llm.serveModel.base' },
      );
    }
    const engine = await ModelEngine.start({ python: trainerPython(env), trainerRoot: TRAINER_ROOT, base, threads: s.threads,
      maxBatch: s.maxBatch,
      env,
      ...(env.R4EC_DEBUG ? { onLog: (l: string) => process.stderr.write(`[serve-model] ${l}\n`) } : {}),
    });
    try {
      const model = baseModelName(base);
      const server = await startModelServer({ engine, model, host: '127.0.0.1', port: s.port });
      return { server, engine, model };
    } catch (e) {
      await engine.close();
      throw e;
    }
  }

  static async create(opts: { config: R4ecConfig; stateDir: string; store: ArtifactStore; env: NodeJS.ProcessEnv }): Promise<LlmEndpoints> {
    const { config } = opts;
    const needsSim = LLM_ROLES.some((r) => roleSource(config.llm, r) === 'simulator');
    const needsModel = LLM_ROLES.some((r) => roleSource(config.llm, r) === 'serve-model');
    // The model loads for seconds: do it while the simulator starts.
    const model = needsModel ? LlmEndpoints.startModelServer(config, opts.env) : undefined;
    model?.catch(() => undefined);
    let sim: RunningSimulator | undefined;
    if (needsSim) {
      try {
        await mkdir(join(opts.stateDir, 'logs'), { recursive: true });
        sim = await startSimulator({
          host: '127.0.0.1',
          port: config.llm.simulator.port,
          catalog: [],
          models: [config.llm.simulator.model],
          faults: simulatorFaults(config.llm.simulator),
          seed: config.llm.simulator.seed,
          logPath: join(opts.stateDir, 'logs', 'sim-requests.jsonl'),
        });
      } catch (e) {
        // The model may still be loading: it must not outlive a worker that never started.
        await model?.then((m) => Promise.all([m.server.close(), m.engine.close()])).catch(() => undefined);
        throw e;
      }
    }
    let served: { server: RunningModelServer; engine: ModelEngine; model: string } | undefined;
    try {
      served = await model;
    } catch (e) {
      await sim?.close();
      throw e;
    }
    const registry = new LlmRegistry({
      llm: config.llm,
      store: opts.store,
      stateDir: opts.stateDir,
      env: opts.env,
      ...(sim ? { simulatorUrl: sim.url, simulatorConcurrency: config.queues.llm.slots } : {}),
      ...(served ? { modelServer: { url: served.server.url, model: served.model } } : {}),
    });
    return new LlmEndpoints(registry, opts.store, sim, served);
  }

  /** `http://127.0.0.1:PORT` of the local model server (its API under /v1), when a role uses it. */
  get modelServerUrl(): string | undefined {
    return this.modelServer?.server.url;
  }

  get simulatorUrl(): string | undefined {
    return this.sim?.url;
  }

  /** Makes sure the simulator knows the catalog of `ingestKey` (or of every ingested dataset). */
  async ensureCatalog(ingestKey?: string): Promise<void> {
    if (!this.sim) return;
    if (ingestKey && this.loaded.has(ingestKey)) return;
    if (!ingestKey && Date.now() - this.lastScan < RESCAN_MS) return;
    this.scanning ??= this.scan(ingestKey).finally(() => {
      this.scanning = undefined;
    });
    await this.scanning;
    if (ingestKey && !this.loaded.has(ingestKey)) await this.scan(ingestKey);
  }

  private async scan(ingestKey?: string): Promise<void> {
    this.lastScan = Date.now();
    const keys = ingestKey ? [ingestKey] : (await this.store.list('ingest/')).filter((k) => k.endsWith('/_manifest.json')).map((k) => k.slice(0, -'/_manifest.json'.length));
    let added = false;
    for (const key of keys) {
      if (this.loaded.has(key)) continue;
      if (!(await this.store.exists(`${key}/meta.json`))) continue;
      const meta: unknown = JSON.parse((await this.store.get(`${key}/meta.json`)).toString('utf8'));
      const items = parseCatalog(meta, `${key}/meta.json`).items.map((it) => ({ ...it, id: `${key}:${it.id}` }));
      this.items = this.items.concat(items);
      this.loaded.add(key);
      added = true;
    }
    if (added) await this.sim!.setCatalog(this.items);
  }

  async close(): Promise<void> {
    const model = this.modelServer;
    this.modelServer = undefined;
    try {
      await this.sim?.close();
      this.sim = undefined;
    } finally {
      if (model) {
        await model.server.close();
        await model.engine.close();
      }
    }
  }
}
