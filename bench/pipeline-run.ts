// What the pipeline benches share: `r4ec run --config X --json` as one whole process in a state dir
// and on ports of its own, timed, and its run summary split by stage.
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { freePort } from '../test/helpers/processes';

export { freePort };


/** The environment of a run in `stateDir` with a dev server on free ports (never the default 7233/8233). */
export async function runEnv(stateDir: string, extra: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> {
  return {
    ...process.env,
    ...extra,
    R4EC_STATE_DIR: stateDir,
    R4EC__TEMPORAL__DEV_SERVER__PORT: String(await freePort()),
    R4EC__TEMPORAL__DEV_SERVER__UI_PORT: String(await freePort()),
  };
}

/** The part of the run summary (`r4ec run --json`) the benches read. */
export interface RunSummary {
  runId: string;
  stages: Record<string, { status: string; seconds: number }>;
  llm: { calls: number };
}

export interface PipelineRun {
  summary: RunSummary;
  /** `performance.now()` when the process was started. */
  startedAt: number;
  wallSeconds: number;
}

export interface PipelineRunOptions {
  /** The CLI entry point (bin/r4ec.js of this or another checkout). */
  cli: string;
  config: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Each chunk of the run's stderr as it comes. */
  onStderr?: (chunk: string) => void;
  /** Called once the process is started; what it returns is called when the process exits. */
  onSpawn?: (child: ChildProcess) => (() => void) | void;
  /** Names the run in the error when it fails. */
  label?: string;
}

/** Runs the pipeline once; a non-zero exit throws with the tail of its stderr. */
export async function runPipeline(o: PipelineRunOptions): Promise<PipelineRun> {
  const startedAt = performance.now();
  let stdout = '';
  let tail = '';
  const code = await new Promise<number | null>((res) => {
    const child = spawn(process.execPath, [o.cli, 'run', '--config', o.config, '--json'], { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      const s = d.toString();
      tail = (tail + s).slice(-4000);
      o.onStderr?.(s);
    });
    const done = o.onSpawn?.(child);
    child.once('exit', (c) => {
      if (done) done();
      res(c);
    });
  });
  const wallSeconds = (performance.now() - startedAt) / 1000;
  if (code !== 0) throw new Error(`${o.label ? `${o.label}: ` : ''}r4ec run exited ${code}:\n${tail}`);
  return { summary: JSON.parse(stdout.trim().split('\n').pop()!) as RunSummary, startedAt, wallSeconds };
}

/** Each stage's seconds, to a tenth. */
export function stageSeconds(summary: RunSummary): Record<string, number> {
  return Object.fromEntries(Object.entries(summary.stages).map(([k, v]) => [k, +v.seconds.toFixed(1)]));
}
