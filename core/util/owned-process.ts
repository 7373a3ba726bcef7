// Child processes that die with the process that started them, however it ends (SIGKILL included).
// Node has no prctl(PR_SET_PDEATHSIG), so each owned child runs in its own process group with a tiny
// `sh` watchdog beside it whose stdin is a pipe from this process. When this process ends, the
// kernel closes the pipe; the watchdog reads end-of-file and stops the child's whole group (SIGTERM,
// then SIGKILL after a grace). Its own group also keeps the terminal's Ctrl-C away from the child, so
// the parent decides what stops in which order. Everything that spawns a long-lived helper (trainer,
// model server, simulator process) should use `spawnOwned`; the Temporal dev server, which several
// r4ec processes may share, is kept by a watchdog of its own (runtime/dev-server.ts).
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

// $1: the child's process group; $2: grace in tenths of a second. Signals that reach our whole group
// (a terminal's Ctrl-C) are ignored: only the pipe's end decides.
const WATCHDOG = [
  "trap '' INT TERM HUP QUIT",
  'read _ || true',
  'kill -TERM -"$1" 2>/dev/null || exit 0',
  'i=0',
  'while kill -0 -"$1" 2>/dev/null && [ "$i" -lt "$2" ]; do sleep 0.1; i=$((i+1)); done',
  'kill -KILL -"$1" 2>/dev/null',
  'exit 0',
].join('\n');

export interface OwnedChild extends ChildProcess {
  /** SIGTERM to the child's group, SIGKILL after `graceMs`; resolves when the child has exited. */
  stop(graceMs?: number): Promise<void>;
}

export type OwnedSpawnOptions = Omit<SpawnOptions, 'detached'> & {
  /** Grace between SIGTERM and SIGKILL, for stop() and for the watchdog (default 5 s). */
  stopGraceMs?: number;
};

const live = new Set<OwnedChild>();
let exitHook = false;

function signalGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig);
  } catch {
    /* already gone */
  }
}

/** `spawn`, but the child (and anything it starts in its group) never outlives this process. */
export function spawnOwned(command: string, args: readonly string[], options: OwnedSpawnOptions = {}): OwnedChild {
  const { stopGraceMs = 5000, ...spawnOptions } = options;
  const child = spawn(command, args, { ...spawnOptions, detached: true }) as OwnedChild;
  let watchdog: ChildProcess | undefined;
  if (child.pid !== undefined) {
    watchdog = spawn('sh', ['-c', WATCHDOG, 'r4ec-watchdog', String(child.pid), String(Math.ceil(stopGraceMs / 100))], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    watchdog.on('error', () => undefined);
    watchdog.stdin?.on('error', () => undefined);
    // Neither keeps this process alive: the pipe only has to stay open while we live.
    watchdog.unref();
    (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  }
  const exited = new Promise<void>((resolveExit) => {
    const done = () => {
      live.delete(child);
      resolveExit();
    };
    child.once('exit', done);
    child.once('error', () => {
      if (child.pid === undefined) done();
    });
  });
  // The child's group may outlive the child (its own children): end them too, then the watchdog.
  void exited.then(() => {
    signalGroup(child.pid, 'SIGKILL');
    watchdog?.kill('SIGKILL');
  });
  child.stop = async (graceMs = stopGraceMs) => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return exited;
    signalGroup(child.pid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  live.add(child);
  if (!exitHook) {
    exitHook = true;
    // A normal exit: no reason to wait for the watchdogs to notice.
    process.on('exit', () => stopAllOwned('SIGKILL'));
  }
  return child;
}

/** Sends `sig` to every owned child's group now (the last resort of a second Ctrl-C and of exit). */
export function stopAllOwned(sig: NodeJS.Signals = 'SIGKILL'): void {
  for (const c of live) signalGroup(c.pid, sig);
}

/** Owned children still running (for tests and shutdown messages). */
export function ownedChildren(): readonly OwnedChild[] {
  return [...live];
}
