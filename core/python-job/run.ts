// runPythonJob: one trainer job (`python -m trainer.<job> --spec spec.json`) followed to its end, so
// that any number of activity attempts (retries, a restarted worker, a rerun) lead to one trainer:
// - a trainer that still runs this spec (pid file + live process whose command line names the spec)
//   is re-attached to: its progress lines are followed instead of starting another;
// - otherwise a new trainer starts, and resumes from its newest checkpoint by itself. A trainer that
//   finds the work directory locked by another reports `Busy`, after which we attach to that one;
// - a cancel signals the trainer's process group (SIGTERM: a trainer that handles it checkpoints and
//   stops; SIGKILL after the grace time) and waits for it to be gone;
// - `onHeartbeat` runs on a timer of its own, so a long step or a slow setup still heartbeats;
// - with `checkpoints`, every checkpoint the trainer completes is uploaded to the artifact store, and
//   a trainer started on a work directory without it (another machine, a deleted state dir) finds
//   the newest stored one in place: the job resumes from there, not from step 0;
// - with `devices`, a trainer it starts gets a device of its own (CUDA_VISIBLE_DEVICES), held until
//   the trainer is gone; a re-attached trainer keeps the device it was started with.
import type { ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { R4ecError } from '../errors';
import { CheckpointUploader, restoreNewestCheckpoint, type CheckpointStoreOptions } from './checkpoint-store';
import { visibleDevicesOf, type DeviceLease, type DevicePool } from './devices';
import { TERMINAL_EVENTS, applyEvent, type JobEvent, type JobState } from './events';
import { ProgressReader, jobFiles, readPidFile, tailLines, writeAtomic } from './files';
import { isAlive, isJobProcess, killGroup, startJob } from './process';
import { TRAINER_ROOT, trainerPython } from './python';
import { sleep } from './sleep';

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
  /** Mirror the trainer's checkpoints in the artifact store (upload each, restore the newest before a start). */
  checkpoints?: CheckpointStoreOptions;
  /** The gpu worker's devices: each trainer started gets one (CUDA_VISIBLE_DEVICES). */
  devices?: DevicePool;
  /** A checkpoint upload failed, or a damaged stored one was passed over (the job goes on). */
  onCheckpointError?: (err: Error) => void;
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
  const uploader = opts.checkpoints ? new CheckpointUploader(opts.checkpoints, (e) => opts.onCheckpointError?.(e)) : undefined;
  let succeeded = false;
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
      let device: DeviceLease | undefined;
      if (pid !== undefined && (await isJobProcess(pid, files.spec))) {
        state.attached = true;
        device = opts.devices?.claim(await visibleDevicesOf(pid));
      } else {
        if (opts.signal?.aborted) throw new PythonJobCancelled(state, true);
        if (opts.checkpoints) {
          const restored = await restoreNewestCheckpoint(opts.checkpoints, opts.workDir, (c, why) => opts.onCheckpointError?.(new Error(`stored checkpoint ${c.name} passed over: ${why}`)));
          if (restored) state.restoredCheckpoint = restored.name;
        }
        device = opts.devices?.acquire();
        const jobEnv = device ? { ...env, CUDA_VISIBLE_DEVICES: device.visible } : env;
        if (device) state.device = device.visible;
        child = startJob({ python, job: opts.job, specPath: files.spec, root: TRAINER_ROOT, env: jobEnv, progressPath: files.progress, logPath: files.log });
        state.launches += 1;
        pid = child.pid;
        if (pid === undefined) {
          device?.release();
          const err = await new Promise<Error>((r) => child!.once('error', r));
          throw new PythonJobError('TrainerNotStartable', `cannot start the trainer with ${python}: ${err.message} (run scripts/setup.sh)`, false);
        }
      }
      state.pid = pid;
      let followed: Awaited<ReturnType<typeof follow>>;
      try {
        followed = await follow(pid, child);
      } finally {
        device?.release();
      }
      const { terminal, exit } = followed;
      if (terminal?.event === 'done') {
        succeeded = true;
        return { done: terminal, state };
      }
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
    // After a failure or a stop, the newest checkpoint must reach the store before a retry looks
    // (perhaps on another machine); after success only the upload in progress is waited for.
    await uploader?.close(!succeeded);
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
        if (uploader && e.event === 'checkpoint' && typeof e.path === 'string') {
          const path = resolve(TRAINER_ROOT, e.path);
          const order = checkpointOrder(basename(path), e);
          if (order !== undefined) uploader.offer(path, order);
        }
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

/** A checkpoint's number as the trainer orders them: the last number in its name (`ckpt-epoch-0003.pt`, `step-00000040`). */
function checkpointOrder(name: string, e: JobEvent): number | undefined {
  const m = /(\d+)(?!.*\d)/.exec(name);
  if (m) return Number(m[1]);
  const n = typeof e.step === 'number' ? e.step : typeof e.epoch === 'number' ? e.epoch : undefined;
  return n !== undefined && n >= 0 ? Math.floor(n) : undefined;
}
