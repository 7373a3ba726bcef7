// The llm worker's endpoints: the configured endpoint per role, and the offline simulator for every
// role without one (docs/DESIGN.md, "The offline LLM"), started here on loopback. The simulator's world
// knowledge is the catalog of every ingested dataset in the store (titles, years, genres — never
// ratings), merged by title and refreshed when a new dataset appears.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LLM_ROLES } from '../config/names';
import type { R4ecConfig } from '../config/schema';
import { LlmRegistry } from '../core/llm/registry';
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
  ) {
    this.sim = sim;
  }

  static async create(opts: { config: R4ecConfig; stateDir: string; store: ArtifactStore; env: NodeJS.ProcessEnv }): Promise<LlmEndpoints> {
    const { config } = opts;
    const needsSim = LLM_ROLES.some((r) => config.llm[r] === undefined);
    let sim: RunningSimulator | undefined;
    if (needsSim) {
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
    }
    const registry = new LlmRegistry({
      llm: config.llm,
      store: opts.store,
      stateDir: opts.stateDir,
      env: opts.env,
      ...(sim ? { simulatorUrl: sim.url, simulatorConcurrency: config.queues.llm.slots } : {}),
    });
    return new LlmEndpoints(registry, opts.store, sim);
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
    await this.sim?.close();
    this.sim = undefined;
  }
}
