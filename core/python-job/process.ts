// The trainer process: started in its own process group (so a cancel reaches everything it forked,
// and a crashed worker does not take it down unless the job asks to die with its parent), found
// again by pid, stopped by signalling the group.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { delimiter } from 'node:path';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  return true;
}

/** A live process that runs this spec (not a zombie, not a recycled pid). */
export async function isJobProcess(pid: number, specPath: string): Promise<boolean> {
  if (!isAlive(pid)) return false;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    if (/\)\s+[ZX]\s/.test(stat)) return false;
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return cmdline.includes(specPath);
  } catch {
    // No /proc (macOS): trust the pid file the trainer writes under its lock.
    return true;
  }
}

export function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

export interface StartJobOptions {
  python: string;
  /** The module under trainer/, e.g. `lora.train`. */
  job: string;
  specPath: string;
  /** The repository root: the `trainer` package is imported from here. */
  root: string;
  env: NodeJS.ProcessEnv;
  /** stdout (progress lines) and stderr are appended to these files. */
  progressPath: string;
  logPath: string;
}

export function startJob(o: StartJobOptions): ChildProcess {
  const out = openSync(o.progressPath, 'a');
  const err = openSync(o.logPath, 'a');
  try {
    return spawn(o.python, ['-m', `trainer.${o.job}`, '--spec', o.specPath], {
      cwd: o.root,
      env: { ...o.env, PYTHONUNBUFFERED: '1', PYTHONPATH: [o.root, o.env.PYTHONPATH].filter(Boolean).join(delimiter) },
      // Its own process group, writing to files rather than pipes: a worker that dies leaves it
      // running (unless the job dies with its parent) to be re-attached to by the next attempt.
      detached: true,
      stdio: ['ignore', out, err],
    });
  } finally {
    closeSync(out);
    closeSync(err);
  }
}
