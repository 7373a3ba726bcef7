// A deployment in miniature for tests that kill things: a dev server on a SQLite file (a child of
// the test, killable and restartable on the same file and port), the workers of every queue in one
// process group (`r4ec worker`), and `r4ec run` attached through `temporal.address`. Plus what such
// a test measures afterwards: the run's outputs and, from the histories, how long each kill held the
// work up.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Connection, Client } from '@temporalio/client';
import { startDevServer, type DevServer } from '../../runtime/dev-server';
import { StageOutput, type ArtifactStore } from '../../core/store';
import type { RunSummary } from '../../workflows/run-summary';
import { freePort } from './processes';

export { freePort };

const root = resolve(__dirname, '..', '..');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function waitExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
}

/** A process of the r4ec CLI in its own process group (a kill of the group takes its children too). */
export interface CliProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface ClusterOptions {
  /** Worker processes, each serving these queues (default: one process for all three). */
  workerGroups?: string[];
  /** Extra environment of the worker processes (fault points). */
  workerEnv?: Record<string, string>;
}

export class Cluster {
  server: DevServer | undefined;
  /** The worker process of each group, while it runs. */
  readonly workers = new Map<string, CliProcess>();
  readonly groups: string[];
  readonly address: string;
  private log = '';

  private constructor(
    readonly stateDir: string,
    readonly cfgPath: string,
    readonly port: number,
    readonly uiPort: number,
    private readonly opts: ClusterOptions,
  ) {
    this.address = `127.0.0.1:${port}`;
    this.groups = opts.workerGroups ?? ['cpu,llm,gpu'];
  }

  /** Writes the config, pointing it at this cluster's server. */
  static async create(stateDir: string, config: Record<string, unknown>, opts: ClusterOptions = {}): Promise<Cluster> {
    const port = await freePort();
    const uiPort = await freePort();
    const cfgPath = join(stateDir, 'cluster-config.json');
    const temporalCfg = { ...((config.temporal as object | undefined) ?? {}), address: `127.0.0.1:${port}` };
    writeFileSync(cfgPath, JSON.stringify({ ...config, temporal: temporalCfg }));
    return new Cluster(stateDir, cfgPath, port, uiPort, opts);
  }

  private cli(args: string[], env: Record<string, string> = {}): CliProcess {
    const child = spawn(process.execPath, [resolve(root, 'bin', 'r4ec.js'), ...args], {
      cwd: root,
      env: { ...process.env, R4EC_STATE_DIR: this.stateDir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    return { child, output: () => out, exited: waitExit(child) };
  }

  async startServer(): Promise<void> {
    this.server = await startDevServer({ stateDir: this.stateDir, port: this.port, uiPort: this.uiPort, namespace: 'default', sync: 'normal' });
    if (this.server.attached) throw new Error(`port ${this.port} was taken by another server`);
  }

  async killServer(): Promise<void> {
    const p = this.server?.process;
    this.server = undefined;
    if (!p) return;
    // startDevServer unrefs the server's process (an r4ec command must not wait for a server it
    // shares); this test waits for its death, so the handle must keep the event loop alive again.
    p.ref();
    p.kill('SIGKILL');
    await waitExit(p);
  }

  /** Starts `r4ec worker --queue <group>` for each group not running; resolves once they poll. */
  async startWorkers(groups: readonly string[] = this.groups): Promise<void> {
    const started = groups.filter((g) => !this.workers.has(g)).map((g) => {
      const w = this.cli(['worker', '--queue', g, '--config', this.cfgPath], this.opts.workerEnv ?? {});
      this.workers.set(g, w);
      return w;
    });
    for (const w of started) {
      for (let i = 0; !w.output().includes('workers ready'); i++) {
        const done = w.child.exitCode !== null || w.child.signalCode !== null;
        if (done || i > 1200) throw new Error(`workers did not start:\n${w.output()}`);
        await sleep(100);
      }
    }
  }

  /** SIGKILLs the process group of each group's worker (all groups by default). */
  async killWorkers(groups: readonly string[] = this.groups): Promise<void> {
    for (const g of groups) {
      const w = this.workers.get(g);
      this.workers.delete(g);
      if (!w) continue;
      try {
        process.kill(-w.child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
      await w.exited;
      this.log += `--- workers ${g} (pid ${w.child.pid})\n${w.output()}`;
    }
  }

  /** Resolves with the first worker group whose process exits. */
  nextWorkerExit(): Promise<string> {
    return Promise.race([...this.workers].map(([g, w]) => w.exited.then(() => g)));
  }

  /** `r4ec run --json` attached to this cluster's server (it starts no workers of its own). */
  run(runId: string): CliProcess {
    return this.cli(['run', '--config', this.cfgPath, '--run-id', runId, '--json']);
  }

  workerLog(): string {
    return this.log + [...this.workers.values()].map((w) => w.output()).join('\n');
  }

  async client(): Promise<Client> {
    return new Client({ connection: await Connection.connect({ address: this.address }) });
  }

  async close(): Promise<void> {
    await this.killWorkers();
    await this.killServer();
  }
}

/** The run summary a `r4ec run --json` printed. */
export function summaryOf(output: string): RunSummary {
  const line = output.split('\n').find((l) => l.startsWith('{"runId"'));
  if (!line) throw new Error(`no run summary in the output:\n${output.slice(-3000)}`);
  return JSON.parse(line) as RunSummary;
}

/** sha256 of every file of a committed output, by name (what "the same output" means file by file). */
export async function outputFiles(store: ArtifactStore, key: string, names?: (name: string) => boolean): Promise<Record<string, string>> {
  const m = await new StageOutput(store, key).manifest();
  return Object.fromEntries(
    Object.entries(m.files)
      .filter(([name]) => !names || names(name))
      .map(([name, f]) => [name, f.sha256]),
  );
}

/** How many completed simulator requests were answered more than once (the request log of every llm worker). */
export function repeatedCompletedRequests(stateDir: string): { completed: number; repeated: number; requests: number } {
  const lines = readFileSync(join(stateDir, 'logs', 'sim-requests.jsonl'), 'utf8').split('\n').filter((l) => l.trim());
  const ok = new Map<string, number>();
  let requests = 0;
  for (const l of lines) {
    const e = JSON.parse(l) as { hash: string; outcome: string; path: string };
    if (!e.path.includes('/chat/')) continue;
    requests++;
    if (e.outcome === 'ok') ok.set(e.hash, (ok.get(e.hash) ?? 0) + 1);
  }
  return { completed: ok.size, repeated: [...ok.values()].filter((n) => n > 1).length, requests };
}

/** An activity that was running (or waiting for a worker) when something was killed. */
export interface PendingActivity {
  workflowId: string;
  /** The execution it was pending in (a workflow may continue as new before the probe looks again). */
  runId: string;
  activityId: string;
  type: string;
  attempt: number;
}

/** Open workflows of the run and their pending activities (describe each; visibility may lag a little). */
export async function pendingActivities(client: Client, runId: string): Promise<PendingActivity[]> {
  const out: PendingActivity[] = [];
  const ids = new Set<string>([runId]);
  for await (const wf of client.workflow.list({ query: `R4ecRunId = "${runId}" AND ExecutionStatus = "Running"` })) ids.add(wf.workflowId);
  for (const id of ids) {
    const d = await client.workflow
      .getHandle(id)
      .describe()
      .catch(() => undefined);
    if (!d || d.status.name !== 'RUNNING') continue;
    for (const a of d.raw.pendingActivities ?? []) out.push({ workflowId: id, runId: d.runId, activityId: a.activityId ?? '', type: a.activityType?.name ?? '?', attempt: a.attempt ?? 1 });
  }
  return out;
}

export interface KillRecovery {
  /** When the kill happened (ms since the epoch) and what it took down. */
  at: number;
  what: string;
  /** Seconds until the server answered again (server kills). */
  serverBackS: number | null;
  /** Activities the kill cut off whose next attempt started on a live worker, and when the last one did. */
  restarted: Array<{ type: string; afterS: number }>;
  /** Pending at the kill but finished without another attempt (their worker survived). */
  finished: number;
  /** Still not started again when the probe gave up. */
  stuck: string[];
}

/**
 * Watches the activities that were pending at a kill until each has started a later attempt (the
 * server noticed the dead worker and another worker took it: `lastStartedTime` of that attempt) or
 * finished. Recovery of a kill = the last of those restarts.
 */
export async function awaitRecovery(client: Client, pending: readonly PendingActivity[], kill: { at: number; what: string }, timeoutMs = 180_000): Promise<KillRecovery> {
  const r: KillRecovery = { at: kill.at, what: kill.what, serverBackS: null, restarted: [], finished: 0, stuck: [] };
  let left = [...pending];
  const deadline = Date.now() + timeoutMs;
  while (left.length > 0 && Date.now() < deadline) {
    const byWorkflow = new Map<string, Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['describe']>> | null>();
    let reachable = true;
    for (const wid of new Set(left.map((p) => p.workflowId))) {
      try {
        const d = await client.workflow.getHandle(wid).describe();
        byWorkflow.set(wid, d);
      } catch (e) {
        if ((e as { name?: string }).name === 'WorkflowNotFoundError') byWorkflow.set(wid, null);
        else reachable = false;
      }
    }
    if (reachable && r.serverBackS === null && kill.what.includes('server')) r.serverBackS = (Date.now() - kill.at) / 1000;
    const still: PendingActivity[] = [];
    for (const p of left) {
      if (!byWorkflow.has(p.workflowId)) {
        still.push(p);
        continue;
      }
      const d = byWorkflow.get(p.workflowId);
      const now = d && d.status.name === 'RUNNING' ? (d.raw.pendingActivities ?? []).find((a) => a.activityId === p.activityId) : undefined;
      if (!now) {
        // Gone from the pending list: a retry may have started and finished between two looks (an
        // idempotent finishing step that finds its output committed takes milliseconds). The history
        // tells: the started event of the attempt that closed it.
        const retried = await closingAttempt(client, p);
        if (retried && retried.attempt > p.attempt && retried.startedMs > kill.at) r.restarted.push({ type: p.type, afterS: (retried.startedMs - kill.at) / 1000 });
        else r.finished++;
        continue;
      }
      // lastStartedTime is the start of the newest attempt that started (kept while a later one waits).
      const startedMs = now.lastStartedTime ? Number(now.lastStartedTime.seconds ?? 0) * 1000 + Math.floor((now.lastStartedTime.nanos ?? 0) / 1e6) : 0;
      if ((now.attempt ?? 1) > p.attempt && startedMs > kill.at) {
        r.restarted.push({ type: p.type, afterS: (startedMs - kill.at) / 1000 });
        continue;
      }
      still.push(p);
    }
    left = still;
    if (left.length > 0) await sleep(500);
  }
  r.stuck = left.map((p) => `${p.type} (${p.workflowId})`);
  return r;
}

/** The attempt that closed a finished activity and when it started, from its execution's history. */
async function closingAttempt(client: Client, p: PendingActivity): Promise<{ attempt: number; startedMs: number } | undefined> {
  try {
    const events = (await client.workflow.getHandle(p.workflowId, p.runId).fetchHistory()).events ?? [];
    const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityId === p.activityId).map((e) => Number(e.eventId));
    const sched = scheduled.at(-1);
    if (sched === undefined) return undefined;
    const started = events.find((e) => Number(e.activityTaskStartedEventAttributes?.scheduledEventId ?? -1) === sched);
    if (!started?.eventTime) return undefined;
    const t = started.eventTime;
    return { attempt: started.activityTaskStartedEventAttributes?.attempt ?? 1, startedMs: Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) };
  } catch {
    return undefined;
  }
}

export function formatRecovery(r: KillRecovery, t0: number): string {
  const last = r.restarted.length ? Math.max(...r.restarted.map((x) => x.afterS)) : null;
  const types = [...new Set(r.restarted.map((x) => x.type))].join(', ');
  return (
    `+${((r.at - t0) / 1000).toFixed(1)} s ${r.what}: ` +
    (r.serverBackS !== null ? `server back after ${r.serverBackS.toFixed(1)} s; ` : '') +
    `${r.restarted.length} cut-off activities restarted elsewhere${last !== null ? `, the last after ${last.toFixed(1)} s (${types})` : ''}; ` +
    `${r.finished} finished on a live worker` +
    (r.stuck.length ? `; STUCK: ${r.stuck.join(', ')}` : '')
  );
}

/** A seeded generator for kill moments (mulberry32 over a sha256 of the seed). */
export function seededRandom(seed: string): () => number {
  let s = createHash('sha256').update(seed).digest().readUInt32LE(0);
  return () => {
    let t = (s = (s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
