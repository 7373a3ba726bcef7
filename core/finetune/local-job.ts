// Running `python -m trainer.lora.train` for one job, so that any number of activity attempts (retries,
// a restarted worker, a rerun) lead to one trainer and one adapter:
//
// - the job directory `<stateDir>/finetune/jobs/<jobKey>/` holds spec.json, progress.jsonl (the
//   trainers' stdout, appended), trainer.log (stderr), trainer.pid, checkpoints/ and adapter/;
// - a trainer that is still running (pid file + live process whose command line names this spec) is
//   re-attached to: we follow its progress lines instead of starting another;
// - otherwise a new trainer starts and resumes from the newest checkpoint. The trainer's own
//   exclusive lock makes a second concurrent start exit with "Busy", after which we attach;
// - the trainer runs in its own process group, detached from the worker, so a worker crash does not
//   kill it (the retried activity re-attaches); a cancel stops it with SIGTERM (it checkpoints first).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FinetuneError, type FinetuneErrorCode } from './errors';
import { R4ecError } from '../errors';

export const JOB_FILES = {
  spec: 'spec.json',
  progress: 'progress.jsonl',
  log: 'trainer.log',
  pid: 'trainer.pid',
  adapter: 'adapter',
} as const;

/** One progress line of the trainer (trainer/lora/train.py). */
export interface TrainerEvent {
  event: string;
  pid?: number;
  [k: string]: unknown;
}

export interface JobState {
  pid?: number;
  /** True when this attempt followed a trainer it did not start. */
  attached: boolean;
  launches: number;
  startStep?: number;
  resumedFrom?: string | null;
  step?: number;
  totalSteps?: number;
  loss?: number;
  checkpoint?: string;
  checkpointStep?: number;
}

export interface LocalJobOptions {
  jobDir: string;
  /** Written to spec.json (workDir must be jobDir). */
  spec: Record<string, unknown>;
  python: string;
  /** Directory containing the `trainer` package. */
  trainerRoot: string;
  env?: NodeJS.ProcessEnv;
  pollMs?: number;
  stopGraceMs?: number;
  signal?: AbortSignal;
  /** Every new progress line of the followed trainer. */
  onEvent?: (event: TrainerEvent, state: JobState) => void;
  /** Once per poll, whether or not anything happened (heartbeats). */
  onPoll?: (state: JobState) => void;
}

export interface LocalJobResult {
  adapterDir: string;
  /** The trainer's `done` line (metrics). */
  done: TrainerEvent;
  state: JobState;
}

/** Thrown after a cancel once the trainer has stopped (its checkpoint kept). */
/** Never a failure: the activity turns it into a cancellation. */
export class JobCancelled extends R4ecError {
  constructor(
    readonly state: JobState,
    readonly graceful: boolean,
  ) {
    super(`trainer stopped on cancel${state.checkpointStep !== undefined ? ` (checkpoint at step ${state.checkpointStep})` : ''}`, 'JobCancelled');
    this.name = 'JobCancelled';
  }
}

const ERROR_TYPES: Record<string, FinetuneErrorCode> = {
  DataError: 'BadDataset',
  SpecError: 'BadTrainerSpec',
  BaseModelError: 'BaseModelMissing',
  OutOfMemory: 'OutOfMemory',
};

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  return true;
}

/** A live process that is the trainer of this spec (not a zombie, not a recycled pid). */
async function isTrainerOf(pid: number, specPath: string): Promise<boolean> {
  if (!isAlive(pid)) return false;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    if (/\)\s+[ZX]\s/.test(stat)) return false;
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return cmdline.includes(specPath);
  } catch {
    // No /proc (macOS): trust the pid file written under the trainer's lock.
    return true;
  }
}

async function readPidFile(jobDir: string): Promise<number | undefined> {
  try {
    const v = JSON.parse(await readFile(join(jobDir, JOB_FILES.pid), 'utf8')) as { pid?: unknown };
    return typeof v.pid === 'number' ? v.pid : undefined;
  } catch {
    return undefined;
  }
}

/** The last `n` lines of a file (reads at most the last 64 KiB). */
export async function tailLines(path: string, n: number): Promise<string[]> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return [];
  }
  try {
    const size = (await fh.stat()).size;
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n').filter((l) => l.trim() !== '');
    return lines.slice(-n);
  } finally {
    await fh.close();
  }
}

/** Incremental reader of progress.jsonl keeping the lines of one pid. */
class ProgressReader {
  private offset = 0;
  private partial = '';
  constructor(private readonly path: string) {}

  async read(): Promise<TrainerEvent[]> {
    let fh;
    try {
      fh = await open(this.path, 'r');
    } catch {
      return [];
    }
    try {
      const size = (await fh.stat()).size;
      if (size <= this.offset) return [];
      const buf = Buffer.alloc(size - this.offset);
      await fh.read(buf, 0, buf.length, this.offset);
      this.offset = size;
      const text = this.partial + buf.toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      const out: TrainerEvent[] = [];
      for (const line of lines) {
        if (!line.trim()) continue;
        try {
          const v = JSON.parse(line) as unknown;
          if (v && typeof v === 'object' && typeof (v as TrainerEvent).event === 'string') out.push(v as TrainerEvent);
        } catch {
          // Not a progress line (the trainer routes prints to stderr; this is defensive).
        }
      }
      return out;
    } finally {
      await fh.close();
    }
  }
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig); // the trainer leads its own process group (detached)
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

export async function runLocalJob(opts: LocalJobOptions): Promise<LocalJobResult> {
  const pollMs = opts.pollMs ?? 1000;
  const stopGraceMs = opts.stopGraceMs ?? 120_000;
  const specPath = join(opts.jobDir, JOB_FILES.spec);
  const progressPath = join(opts.jobDir, JOB_FILES.progress);
  const logPath = join(opts.jobDir, JOB_FILES.log);
  await mkdir(opts.jobDir, { recursive: true });
  await writeAtomic(specPath, JSON.stringify(opts.spec, null, 1));
  const state: JobState = { attached: false, launches: 0 };
  const history: TrainerEvent[] = [];

  const lastLines = async (pid: number | undefined) => [
    ...(await tailLines(logPath, 15)),
    ...history
      .filter((e) => e.pid === pid)
      .slice(-5)
      .map((e) => JSON.stringify(e)),
  ];

  for (;;) {
    let pid = await readPidFile(opts.jobDir);
    let child: ChildProcess | undefined;
    if (pid !== undefined && (await isTrainerOf(pid, specPath))) {
      state.attached = true;
    } else {
      if (opts.signal?.aborted) throw new JobCancelled(state, true);
      child = startTrainer(opts, specPath, progressPath, logPath);
      state.launches += 1;
      pid = child.pid;
      if (pid === undefined) {
        const err = await new Promise<Error>((r) => child!.once('error', r));
        throw new FinetuneError('TrainerNotStartable', `cannot start the trainer with ${opts.python}: ${err.message} (run scripts/setup.sh)`, false);
      }
    }
    state.pid = pid;
    const outcome = await follow(pid, child);
    const terminal = outcome.terminal;
    if (terminal?.event === 'done') {
      return { adapterDir: String(terminal.adapterDir ?? join(opts.jobDir, JOB_FILES.adapter)), done: terminal, state };
    }
    if (terminal?.event === 'error' && terminal.type === 'Busy' && state.launches <= 3) {
      // Another attempt's trainer took the lock between our check and our start: follow it.
      await sleep(200);
      continue;
    }
    const lines = await lastLines(pid);
    if (terminal?.event === 'error') {
      const code = ERROR_TYPES[String(terminal.type)] ?? 'TrainerFailed';
      throw new FinetuneError(code, `trainer failed: ${String(terminal.message ?? terminal.type)}`, terminal.nonRetryable !== true, lines);
    }
    if (terminal?.event === 'stopped') {
      throw new FinetuneError('TrainerStopped', `the trainer (pid ${pid}) was stopped by a signal from outside at step ${String(terminal.step)}; the next attempt resumes from its checkpoint`, true, lines);
    }
    const how = outcome.exit ? (outcome.exit.signal ? `was killed by ${outcome.exit.signal}` : `exited with code ${outcome.exit.code}`) : 'is gone';
    const resume = state.checkpointStep !== undefined ? `the next attempt resumes from the checkpoint at step ${state.checkpointStep}` : 'no checkpoint was written yet';
    throw new FinetuneError('TrainerExited', `the trainer (pid ${pid}) ${how} without a final progress line; ${resume}`, true, lines);
  }

  async function follow(pid: number, child: ChildProcess | undefined): Promise<{ terminal?: TrainerEvent; exit?: { code: number | null; signal: string | null } }> {
    let exit: { code: number | null; signal: string | null } | undefined;
    let exited = false;
    child?.once('exit', (code, signal) => {
      exit = { code, signal };
      exited = true;
    });
    const reader = new ProgressReader(progressPath);
    let terminal: TrainerEvent | undefined;
    const drain = async () => {
      for (const e of await reader.read()) {
        history.push(e);
        if (history.length > 200) history.shift();
        if (e.pid !== pid) continue;
        apply(e);
        opts.onEvent?.(e, state);
        if (e.event === 'done' || e.event === 'error' || e.event === 'stopped') terminal = e;
      }
    };
    for (;;) {
      await drain();
      if (!child) exited = !(await isTrainerOf(pid, specPath));
      if (exited) {
        await drain();
        return { ...(terminal ? { terminal } : {}), ...(exit ? { exit } : {}) };
      }
      if (opts.signal?.aborted) {
        const graceful = await stop(pid, () => exited || !isAlive(pid));
        await drain();
        // Finished anyway while stopping: keep the result rather than discard an adapter.
        if (terminal?.event === 'done') return { terminal };
        throw new JobCancelled(state, graceful);
      }
      opts.onPoll?.(state);
      await sleep(pollMs, opts.signal);
    }
  }

  async function stop(pid: number, gone: () => boolean): Promise<boolean> {
    killGroup(pid, 'SIGTERM');
    const deadline = Date.now() + stopGraceMs;
    while (Date.now() < deadline) {
      if (gone()) return true;
      opts.onPoll?.(state);
      await sleep(Math.min(pollMs, 250));
    }
    killGroup(pid, 'SIGKILL');
    return false;
  }

  function apply(e: TrainerEvent): void {
    const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
    if (e.event === 'start') {
      state.startStep = num(e.startStep);
      state.resumedFrom = (e.resumedFrom as string | null | undefined) ?? null;
      state.totalSteps = num(e.totalSteps);
      state.step = num(e.startStep);
    } else if (e.event === 'step') {
      state.step = num(e.step);
      state.totalSteps = num(e.totalSteps) ?? state.totalSteps;
      state.loss = num(e.loss);
    } else if (e.event === 'checkpoint') {
      state.checkpoint = String(e.path);
      state.checkpointStep = num(e.step);
    }
  }
}

function startTrainer(opts: LocalJobOptions, specPath: string, progressPath: string, logPath: string): ChildProcess {
  const out = openSync(progressPath, 'a');
  const err = openSync(logPath, 'a');
  try {
    return spawn(opts.python, ['-m', 'trainer.lora.train', '--spec', specPath], {
      cwd: opts.trainerRoot,
      env: { ...(opts.env ?? process.env), PYTHONUNBUFFERED: '1', TOKENIZERS_PARALLELISM: 'false' },
      // Its own process group, not tied to the worker: a crashed worker leaves it running to be re-attached.
      detached: true,
      stdio: ['ignore', out, err],
    });
  } finally {
    closeSync(out);
    closeSync(err);
  }
}

/** The finished adapter of a job directory, when a trainer completed it earlier (no process needed). */
export async function finishedAdapter(jobDir: string, jobKey: string): Promise<{ adapterDir: string; metrics: Record<string, unknown> } | undefined> {
  const dir = join(jobDir, JOB_FILES.adapter);
  try {
    const meta = JSON.parse(await readFile(join(dir, 'r4ec-adapter.json'), 'utf8')) as { jobKey?: string; metrics?: Record<string, unknown> };
    if (meta.jobKey !== jobKey) return undefined;
    await stat(join(dir, 'adapter_config.json'));
    return { adapterDir: dir, metrics: meta.metrics ?? {} };
  } catch {
    return undefined;
  }
}
