// A lock between the r4ec processes of one state dir (and the dev server's keeper script, which
// takes the same lock from `sh`): a symlink whose target is the holder's pid. Creating a symlink is
// atomic and carries its content, so a holder that died (even by SIGKILL) is recognised and its lock
// taken over.
import { readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
import { R4ecError } from '../core/errors';

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryTake(path: string): boolean {
  try {
    symlinkSync(String(process.pid), path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  let holder: number | undefined;
  try {
    holder = Number(readlinkSync(path));
  } catch {
    return false; // released meanwhile: try again
  }
  if (holder === process.pid) {
    throw new R4ecError(`the state dir lock ${path} is already held by this process`, 'state_lock_reentry');
  }
  if (!pidAlive(holder)) {
    try {
      unlinkSync(path);
    } catch {
      /* someone else took it over first */
    }
  }
  return false;
}

/**
 * Runs `fn` holding the lock at `path`; waits up to `timeoutMs` for the holder (`onWait` once, with
 * its pid, after a second of waiting), or throws naming the holder.
 */
export async function withStateLock<T>(path: string, fn: () => Promise<T>, opts: { timeoutMs?: number; onWait?: (holderPid: number | undefined) => void; signal?: AbortSignal } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
  const started = Date.now();
  let told = false;
  while (!tryTake(path)) {
    opts.signal?.throwIfAborted();
    if (!told && Date.now() - started > 1000) {
      told = true;
      let holder: number | undefined;
      try {
        holder = Number(readlinkSync(path));
      } catch {
        holder = undefined;
      }
      opts.onWait?.(holder);
    }
    if (Date.now() > deadline) {
      let holder = '?';
      try {
        holder = readlinkSync(path);
      } catch {
        /* gone */
      }
      throw new R4ecError(`another r4ec process (pid ${holder}) has held ${path} for ${Math.round((Date.now() - started) / 1000)} s`, 'state_dir_busy', {
        suggestion: `wait for it, or stop it (kill ${holder}); the lock is released when that process ends`,
      });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    return await fn();
  } finally {
    try {
      if (readlinkSync(path) === String(process.pid)) unlinkSync(path);
    } catch {
      /* gone */
    }
  }
}
