// runPythonJob: one trainer job (`python -m trainer.<job> --spec spec.json`) followed to its end, so
// that any number of activity attempts (retries, a restarted worker, a rerun) lead to one trainer:
// - a trainer that still runs this spec (pid file + live process whose command line names the spec)
//   is re-attached to: its progress lines are followed instead of starting another;
// - otherwise a new trainer starts, and resumes from its newest checkpoint by itself. A trainer that
//   finds the work directory locked by another reports `Busy`, after which we attach to that one;
// - a cancel signals the trainer's process group (SIGTERM: a trainer that handles it checkpoints and
//   stops; SIGKILL after the grace time) and waits for it to be gone;
// - `onHeartbeat` runs on a timer of its own, so a long step or a slow setup still heartbeats.
import type { ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { R4ecError } from '../errors';
import { TERMINAL_EVENTS, applyEvent, type JobEvent, type JobState } from './events';
import { ProgressReader, jobFiles, readPidFile, tailLines, writeAtomic } from './files';
import { isAlive, isJobProcess, killGroup, startJob } from './process';
import { TRAINER_ROOT, trainerPython } from './python';

export interface PythonJobOptions {
  /** The module under trainer/: `lora.train` runs `python -m trainer.lora.train`. */
  job: string;
  /** The job's own directory: spec, progress lines, log, pid file (and the trainer's checkpoints). */
  workDir: string;
  /** Written to `<workDir>/spec.json`. */
  spec: Record<string, unknown>;
  /** Default: trainerPython(env). */
  python?: string;
  env?: NodeJS.ProcessEnv;
  /** How often the progress file is read and the process looked at (default 1 s). */
  pollMs?: number;
  /** How often onHeartbeat runs (default pollMs). */
  heartbeatMs?: number;
  /** After SIGTERM on cancel, how long the trainer gets to checkpoint before SIGKILL (default 120 s). */
  stopGraceMs?: number;
  signal?: AbortSignal;
  /** The failure code for the trainer's error kind (default: the kind itself). */
  errorCode?: (type: string) => string;
  /** Every new progress line of the followed trainer. */
  onEvent?: (event: JobEvent, state: JobState) => void;
  /** On the side timer, whatever the trainer is doing. */
  onHeartbeat?: (state: JobState) => void;
}

export interface PythonJobResult {
  /** The trainer's `done` line. */
  done: JobEvent;
  state: JobState;
}

/**
 * The trainer failed (`TrainerFailed` or the code for its error kind), stopped on a signal from
 * outside (`TrainerStopped`), died without a last line (`TrainerExited`) or could not start
 * (`TrainerNotStartable`). Carries its last output lines for the failure's details.
 */
export class PythonJobError extends R4ecError {
  constructor(
    code: string,
    message: string,
    retryable: boolean,
    /** The trainer's last stderr and progress lines, oldest first. */
    readonly lastLines: string[] = [],
  ) {
    super(lastLines.length ? `${message}\n--- last trainer output ---\n${lastLines.join('\n')}` : message, code, { retryable });
    this.name = 'PythonJobError';
  }

  override details(): Record<string, unknown> {
    return { lastLines: this.lastLines };
  }
}

/** Thrown once a cancelled trainer has stopped (its checkpoint kept). Never a failure: the activity reports a cancellation. */
export class PythonJobCancelled extends R4ecError {
  constructor(
    readonly state: JobState,
    readonly graceful: boolean,
  ) {
    super(`trainer stopped on cancel${state.checkpoint !== undefined ? ` (checkpoint ${state.checkpoint})` : ''}`, 'JobCancelled');
    this.name = 'PythonJobCancelled';
  }
}

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

type Exit = { code: number | null; signal: string | null };

export async function runPythonJob(opts: PythonJobOptions): Promise<PythonJobResult> {
  const env = opts.env ?? process.env;
  const python = opts.python ?? trainerPython(env);
  const pollMs = opts.pollMs ?? 1000;
  const stopGraceMs = opts.stopGraceMs ?? 120_000;
  const files = jobFiles(opts.workDir);
  await mkdir(opts.workDir, { recursive: true });
  await writeAtomic(files.spec, JSON.stringify(opts.spec, null, 1));
  const state: JobState = { attached: false, launches: 0 };
  const history: JobEvent[] = [];
  const timer = opts.onHeartbeat ? setInterval(() => opts.onHeartbeat!(state), opts.heartbeatMs ?? pollMs) : undefined;

  const lastLines = async (pid: number | undefined) => [
    ...(await tailLines(files.log, 15)),
    ...history
      .filter((e) => e.pid === pid)
      .slice(-5)
      .map((e) => JSON.stringify(e)),
  ];

  try {
    for (;;) {
      let pid = await readPidFile(files.pid);
      let child: ChildProcess | undefined;
      if (pid !== undefined && (await isJobProcess(pid, files.spec))) {
        state.attached = true;
      } else {
        if (opts.signal?.aborted) throw new PythonJobCancelled(state, true);
        child = startJob({ python, job: opts.job, specPath: files.spec, root: TRAINER_ROOT, env, progressPath: files.progress, logPath: files.log });
        state.launches += 1;
        pid = child.pid;
        if (pid === undefined) {
          const err = await new Promise<Error>((r) => child!.once('error', r));
          throw new PythonJobError('TrainerNotStartable', `cannot start the trainer with ${python}: ${err.message} (run scripts/setup.sh)`, false);
        }
      }
      state.pid = pid;
      const { terminal, exit } = await follow(pid, child);
      if (terminal?.event === 'done') return { done: terminal, state };
      if (terminal?.event === 'error' && terminal.type === 'Busy' && state.launches <= 3) {
        // Another attempt's trainer took the lock between our look at the pid file and our start: follow it.
        await sleep(200);
        continue;
      }
      const lines = await lastLines(pid);
      if (terminal?.event === 'error') {
        const type = terminal.type ?? 'TrainerFailed';
        throw new PythonJobError(opts.errorCode?.(type) ?? type, terminal.message ?? type, terminal.nonRetryable !== true, lines);
      }
      if (terminal?.event === 'stopped') {
        throw new PythonJobError('TrainerStopped', `the trainer (pid ${pid}) was stopped by a signal from outside at step ${String(terminal.step)}; the next attempt resumes from its checkpoint`, true, lines);
      }
      const how = exit ? (exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`) : 'is gone';
      const resume = state.checkpoint !== undefined ? `the next attempt resumes from its checkpoint ${state.checkpoint}` : 'no checkpoint was written yet';
      throw new PythonJobError('TrainerExited', `the trainer (pid ${pid}) ${how} without a final progress line; ${resume}`, true, lines);
    }
  } finally {
    if (timer) clearInterval(timer);
  }

  async function follow(pid: number, child: ChildProcess | undefined): Promise<{ terminal?: JobEvent; exit?: Exit }> {
    let exit: Exit | undefined;
    let exited = false;
    child?.once('exit', (code, signal) => {
      exit = { code, signal };
      exited = true;
    });
    const reader = new ProgressReader(files.progress);
    let terminal: JobEvent | undefined;
    const drain = async () => {
      for (const e of await reader.read()) {
        history.push(e);
        if (history.length > 200) history.shift();
        // progress.jsonl holds every launch's lines: only this process's count.
        if (e.pid !== pid) continue;
        applyEvent(state, e);
        opts.onEvent?.(e, state);
        if (TERMINAL_EVENTS.includes(e.event)) terminal = e;
      }
    };
    for (;;) {
      await drain();
      if (!child) exited = !(await isJobProcess(pid, files.spec));
      if (exited) {
        await drain();
        return { ...(terminal ? { terminal } : {}), ...(exit ? { exit } : {}) };
      }
      if (opts.signal?.aborted) {
        const graceful = await stop(pid, () => exited || !isAlive(pid));
        await drain();
        // Finished anyway while stopping: keep the result rather than discard it.
        if (terminal?.event === 'done') return { terminal };
        throw new PythonJobCancelled(state, graceful);
      }
      await sleep(pollMs, opts.signal);
    }
  }

  async function stop(pid: number, gone: () => boolean): Promise<boolean> {
    killGroup(pid, 'SIGTERM');
    const deadline = Date.now() + stopGraceMs;
    while (Date.now() < deadline) {
      if (gone()) return true;
      await sleep(Math.min(pollMs, 250));
    }
    killGroup(pid, 'SIGKILL');
    return false;
  }
}
