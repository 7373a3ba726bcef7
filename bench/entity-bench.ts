// What the construct and refine throughput benches share: one stage run per execution mode
// (entityWorkflows `failed`: batches; `all`: a workflow per entity) on one dev server, each against
// its own simulator process (so its CPU is measured apart) and its own LLM cache, with entities/s,
// CPU per entity (dev server, workers, simulator), achieved ÷ the latency-bound ideal, and billable
// Temporal Cloud actions per entity (histories, plus heartbeats and queries from the server's
// metrics: the dev server is started with `--metrics-port`).
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { EntityWorkflows, R4ecConfig } from '../config/schema';
import { LlmRegistry } from '../core/llm/registry';
import type { LlmUsage } from '../core/rules';
import { startTestTemporal, withWorkers, type TestTemporal } from '../test/helpers/temporal';
import { spawnSimulator } from '../test/helpers/simulator';
import { countRunActions, serverRequestCounts, totalOf } from './actions';
import { freePort } from './pipeline-run';
import { childrenCpuSeconds } from './proc';

export interface BenchFaults {
  malformedRate: number;
  rateLimitRate: number;
}

export interface ModeRunResult {
  units: number;
  outcomes: Record<string, number>;
  llm: LlmUsage;
}

export interface ModeBench {
  catalog: string;
  modes: EntityWorkflows[];
  latencyMs: number;
  /** LLM requests in flight at most (the simulator's endpoint concurrency and the llm queue's slots). */
  concurrency: number;
  faults: BenchFaults;
  configFor(mode: EntityWorkflows, simulatorModel: string): R4ecConfig;
  run(t: TestTemporal, config: R4ecConfig, runId: string): Promise<ModeRunResult>;
}

/** A dev server with its Prometheus endpoint (heartbeats and queries are counted there). */
export async function startBenchTemporal(): Promise<{ t: TestTemporal; metricsUrl: string }> {
  const port = await freePort();
  const t = await startTestTemporal({ extraArgs: ['--metrics-port', String(port)] });
  return { t, metricsUrl: `http://127.0.0.1:${port}/metrics` };
}

const r = (v: number, d = 2) => Number(v.toFixed(d));

/** Bytes of every file under a directory (0 when it does not exist). */
function dirBytes(dir: string): number {
  let n = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += dirBytes(p);
    else if (e.isFile()) n += statSync(p).size;
  }
  return n;
}

export async function benchModes(t: TestTemporal, metricsUrl: string, b: ModeBench): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  // Injected 429s ask for a short pause, so a faulty run measures the faults, not the waiting.
  process.env.R4EC__LLM__SIMULATOR__RETRY_AFTER_SECONDS ??= '0.05';
  for (const mode of b.modes) {
    const model = `bench-${mode}-${b.latencyMs}-${Date.now().toString(36)}`;
    const simState = mkdtempSync(join(tmpdir(), `r4ec-bench-sim-${mode}-`));
    const cacheDir = mkdtempSync(join(tmpdir(), `r4ec-bench-cache-${mode}-`));
    const sim = await spawnSimulator({ catalog: b.catalog, stateDir: simState, latencyMs: b.latencyMs, malformedRate: b.faults.malformedRate, rateLimitRate: b.faults.rateLimitRate, model });
    try {
      const config = b.configFor(mode, model);
      const registry = new LlmRegistry({ llm: config.llm, stateDir: cacheDir, env: {}, simulatorUrl: sim.url, simulatorConcurrency: b.concurrency });
      const runId = `bench-${mode}-${Date.now()}`;
      const m = await withWorkers(t, { config, queues: ['cpu', 'llm'], deps: { llm: registry } as object }, async ({ config: c }) => {
        const store0 = dirBytes(join(t.stateDir, 'store'));
        const load0 = loadavg()[0]!;
        const before = await serverRequestCounts(metricsUrl);
        const cpu0 = process.cpuUsage();
        const server0 = childrenCpuSeconds((pid) => pid !== sim.pid);
        const sim0 = childrenCpuSeconds((pid) => pid === sim.pid);
        const t0 = performance.now();
        const res = await b.run(t, c, runId);
        const seconds = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        const cpuSeconds = { server: childrenCpuSeconds((pid) => pid !== sim.pid) - server0, workers: (cpu.user + cpu.system) / 1e6, simulator: childrenCpuSeconds((pid) => pid === sim.pid) - sim0 };
        const afterCounts = await serverRequestCounts(metricsUrl);
        // What the stage left in the store (records, outputs) and in the LLM cache and usage ledger.
        const bytes = { store: dirBytes(join(t.stateDir, 'store')) - store0, llmCache: dirBytes(join(cacheDir, 'llm-cache')), usageLedger: dirBytes(join(cacheDir, 'llm-usage')) };
        return { res, seconds, cpuSeconds, bytes, load: [load0, loadavg()[0]!], heartbeats: afterCounts.heartbeats - before.heartbeats, queries: afterCounts.queries - before.queries };
      });
      const actions = await countRunActions(t.client, runId);
      actions.total.heartbeats += m.heartbeats;
      actions.total.queries += m.queries;
      actions.total.total = totalOf(actions.total);
      const n = m.res.units;
      const log = sim.requests();
      const perUnit = log.length / n;
      const figures: Record<string, unknown> = {
        mode,
        units: n,
        seconds: r(m.seconds),
        unitsPerSecond: r(n / m.seconds),
        requestsPerUnit: r(perUnit, 3),
        latencyMs: b.latencyMs,
        concurrency: b.concurrency,
        faults: b.faults,
        cpuMsPerUnit: Object.fromEntries(Object.entries(m.cpuSeconds).map(([k, v]) => [k, r((v * 1000) / n, 1)])),
        actionsPerUnit: r(actions.total.total / n, 3),
        actions: { ...actions.total, perStage: Object.fromEntries(Object.entries(actions.byStage).map(([k, s]) => [k, { total: s.total, executions: s.executions, events: s.events, historyBytes: s.historyBytes }])) },
        historyBytesPerUnit: r(actions.total.historyBytes / n, 0),
        storeBytesPerUnit: Object.fromEntries(Object.entries(m.bytes).map(([k, v]) => [k, r(v / n, 0)])),
        outcomes: m.res.outcomes,
        loadAverage: m.load.map((x) => r(x, 1)),
      };
      if (b.latencyMs > 0) {
        const ideal = b.concurrency / (b.latencyMs / 1000) / perUnit;
        figures.idealUnitsPerSecond = r(ideal);
        figures.achievedOverIdeal = r(n / m.seconds / ideal, 3);
        // On a busy machine the simulator answers later than asked: the ratio against the latency it
        // really served separates its slowness from the orchestration's.
        const served = log.reduce((a, e) => a + (e.latencyMs ?? 0), 0) / Math.max(1, log.length);
        figures.servedLatencyMs = Math.round(served);
        figures.achievedOverIdealAtServedLatency = r(n / m.seconds / (b.concurrency / (served / 1000) / perUnit), 3);
      }
      out.push(figures);
      console.error(`${mode}: ${JSON.stringify(figures)}`);
    } finally {
      await sim.close();
      rmSync(simState, { recursive: true, force: true });
      rmSync(cacheDir, { recursive: true, force: true });
    }
  }
  return out;
}
