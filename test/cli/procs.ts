// Real CLI processes for the lifecycle tests: spawn `bin/r4ec.js` with its own state dir and ports,
// watch its output, and find every process that belongs to a state dir (the dev server's command
// line names its SQLite file there; the keeper names its control dir) through /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export { freePort } from '../helpers/processes';

export const root = resolve(__dirname, '..', '..');


export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface Cli {
  child: ChildProcess;
  pid: number;
  out(): string;
  err(): string;
  /** Resolves when stderr+stdout match `re` (rejects when the process exits first or after `ms`). */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  /** Exit code (or 128+signal), and how long after `since` it came. */
  exited: Promise<{ code: number; at: number }>;
}

/** `r4ec <args>` with `env` over the test's environment (R4EC_* of the outer shell removed). */
export function cli(args: string[], env: Record<string, string>, cwd = root): Cli {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('R4EC')));
  const child = spawn(process.execPath, [resolve(root, 'bin', 'r4ec.js'), ...args], { cwd, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: Array<{ re: RegExp; res: () => void }> = [];
  const check = () => {
    for (const w of [...waiters]) if (w.re.test(out + err)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.res();
    }
  };
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    check();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    check();
  });
  const exited = new Promise<{ code: number; at: number }>((r) =>
    child.once('exit', (code, sig) => r({ code: code ?? 128 + (sig === 'SIGKILL' ? 9 : sig === 'SIGTERM' ? 15 : sig === 'SIGINT' ? 2 : 0), at: Date.now() })),
  );
  return {
    child,
    pid: child.pid!,
    out: () => out,
    err: () => err,
    exited,
    waitFor(re, ms = 60_000) {
      return new Promise<void>((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${re}:\n--- stderr\n${err}\n--- stdout\n${out}`)), ms);
        const w = {
          re,
          res: () => {
            clearTimeout(timer);
            res();
          },
        };
        waiters.push(w);
        check();
        void exited.then(({ code }) => {
          if (!waiters.includes(w)) return;
          clearTimeout(timer);
          rej(new Error(`r4ec exited (${code}) before ${re}:\n--- stderr\n${err}\n--- stdout\n${out}`));
        });
      });
    },
  };
}

export async function run(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  const c = cli(args, env);
  const timer = setTimeout(() => c.child.kill('SIGKILL'), timeoutMs);
  const { code, at } = await c.exited;
  clearTimeout(timer);
  return { code, stdout: c.out(), stderr: c.err(), ms: at - started };
}

interface Proc {
  pid: number;
  ppid: number;
  state: string;
  cmd: string;
}

function procs(): Proc[] {
  const out: Proc[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ');
      out.push({ pid: Number(d), state: rest[0]!, ppid: Number(rest[1]), cmd });
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/** Live (not zombie) processes whose command line mentions `text` (a state dir). */
export function processesMentioning(text: string): Proc[] {
  return procs().filter((p) => p.state !== 'Z' && p.pid !== process.pid && p.cmd.includes(text));
}

/** Every live descendant of `pid` now. */
export function descendants(pid: number): Proc[] {
  const all = procs();
  const out: Proc[] = [];
  const walk = (p: number) => {
    for (const c of all) if (c.ppid === p && c.state !== 'Z') {
      out.push(c);
      walk(c.pid);
    }
  };
  walk(pid);
  return out;
}

export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Waits until `cond` holds (polling), or throws `what` after `ms`. */
export async function eventually(cond: () => boolean | Promise<boolean>, ms: number, what: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(what());
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Kills whatever still mentions `text` (a failing test must not leave servers for the next one). */
export function reap(text: string): void {
  for (const p of processesMentioning(text)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}
