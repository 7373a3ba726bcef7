// The simulator harness of the tests: in-process simulators (closed after the test file), one that
// knows an ingested dataset's catalog with the LLM registry a test's llm worker uses, and the
// simulator in its own process (`r4ec sim-llm`) as a real endpoint would be.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after } from 'node:test';
import type { R4ecConfig } from '../../config/schema';
import { LlmRegistry } from '../../core/llm/registry';
import { startSimulator, type RunningSimulator, type SimLogEntry, type SimulatorOptions } from '../../core/sim/server';
import type { ArtifactStore } from '../../core/store';

const root = resolve(__dirname, '..', '..');

export interface SimulatorHarness {
  /** A simulator with the harness defaults overridden by `opts`, closed after the file's tests (closing it earlier is fine). */
  start(opts?: Partial<SimulatorOptions>): Promise<RunningSimulator>;
  /** A fresh temp folder, removed after the file's tests. */
  tmp(): string;
}

/** Call at the top level of a test file: what it starts is cleaned up by that file's `after`. */
export function simulatorHarness(defaults: SimulatorOptions): SimulatorHarness {
  const sims: RunningSimulator[] = [];
  const dirs: string[] = [];
  after(async () => {
    await Promise.all(sims.map((s) => s.close()));
    dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  });
  return {
    async start(opts = {}) {
      const s = await startSimulator({ ...defaults, ...opts });
      let closed: Promise<void> | undefined;
      const close = s.close;
      s.close = () => (closed ??= close());
      sims.push(s);
      return s;
    },
    tmp() {
      const d = mkdtempSync(join(tmpdir(), 'r4ec-sim-test-'));
      dirs.push(d);
      return d;
    },
  };
}

export interface SimSetup {
  sim: RunningSimulator;
  registry: LlmRegistry;
  close(): Promise<void>;
}

/**
 * A simulator that knows the ingested dataset's catalog, configured from `config.llm.simulator`
 * (model, seed, faults), and a registry for the llm worker that asks it.
 */
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

export interface SimProcess {
  url: string;
  pid: number;
  /** Entries of the simulator's request log (JSONL under the given state dir). */
  requests(): SimLogEntry[];
  close(): Promise<void>;
}

/**
 * The simulator in its own process (`r4ec sim-llm`), as a real endpoint would be: the workers'
 * process then does only orchestration and client work.
 */
export async function spawnSimulator(opts: { catalog: string; stateDir: string; latencyMs?: number; malformedRate?: number; rateLimitRate?: number; model?: string }): Promise<SimProcess> {
  // sim-llm opens its log without creating the folder.
  mkdirSync(join(opts.stateDir, 'logs'), { recursive: true });
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
            .map((l) => JSON.parse(l) as SimLogEntry)
        : [],
    close: () =>
      new Promise<void>((res) => {
        if (child.exitCode !== null) return res();
        child.once('exit', () => res());
        child.kill('SIGTERM');
      }),
  };
}
