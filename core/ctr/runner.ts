// Runs one `python -m trainer.ctr.train --spec spec.json` and follows its line-delimited JSON
// progress. The trainer resumes from its newest checkpoint by itself, so running it again after a
// crash or a retry is the whole resume protocol; the last line says done or error.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { R4ecError } from '../errors';

export interface TrainerEvent {
  event: string;
  [k: string]: unknown;
}

/** Code: the trainer's error kind (SpecError, DataError, CheckpointError, ...), SpawnError or ProcessExit. */
export class TrainerFailure extends R4ecError {
  constructor(
    message: string,
    type: string,
    /** Bad input: running it again cannot help. */
    nonRetryable: boolean,
  ) {
    super(message, type, { retryable: !nonRetryable });
    this.name = 'TrainerFailure';
  }
}

export interface RunTrainerOptions {
  python: string;
  /** Directory containing the `trainer` package (the repository root). */
  trainerRoot: string;
  specPath: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onEvent?: (e: TrainerEvent) => void;
  /** Lines of stderr kept for the failure message. */
  stderrTail?: number;
}

/** Resolves with the trainer's `done` line; rejects with TrainerFailure (or the abort reason). */
export function runTrainer(opts: RunTrainerOptions): Promise<TrainerEvent> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(opts.python, ['-m', 'trainer.ctr.train', '--spec', opts.specPath], {
      cwd: opts.trainerRoot,
      env: {
        ...(opts.env ?? process.env),
        PYTHONPATH: opts.trainerRoot,
        PYTHONUNBUFFERED: '1',
        // Spinning OpenMP threads slow training several-fold on a shared CPU (trainer/ctr/__init__.py).
        OMP_WAIT_POLICY: opts.env?.OMP_WAIT_POLICY ?? 'PASSIVE',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let last: TrainerEvent | undefined;
    const tail: string[] = [];
    const keep = opts.stderrTail ?? 40;
    const onAbort = () => child.kill('SIGKILL');
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    createInterface({ input: child.stderr! }).on('line', (line) => {
      tail.push(line);
      if (tail.length > keep) tail.shift();
    });
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      let e: TrainerEvent;
      try {
        e = JSON.parse(line) as TrainerEvent;
      } catch {
        tail.push(`(unparsable progress line) ${line}`);
        return;
      }
      last = e;
      opts.onEvent?.(e);
    });
    child.on('error', (err) => {
      opts.signal?.removeEventListener('abort', onAbort);
      reject(new TrainerFailure(`could not start ${opts.python}: ${err.message}`, 'SpawnError', false));
    });
    // 'close' comes after both pipes end: every progress line has been read.
    child.on('close', (code, sig) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (opts.signal?.aborted) return reject(opts.signal.reason ?? new Error('aborted'));
      if (code === 0 && last?.event === 'done') return resolvePromise(last);
      if (last?.event === 'error') {
        return reject(new TrainerFailure(String(last.message), String(last.type ?? 'TrainerError'), last.nonRetryable === true));
      }
      const how = sig ? `was killed by ${sig}` : `exited with code ${String(code)}`;
      reject(new TrainerFailure(`trainer ${how} without a final progress line; stderr tail:\n${tail.join('\n')}`, 'ProcessExit', false));
    });
  });
}
