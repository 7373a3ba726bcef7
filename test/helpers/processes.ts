// Real processes for the kill and restart tests: worker processes that can be SIGKILLed, their exit,
// and free ports for servers a test starts itself.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

const root = resolve(__dirname, '..', '..');

export type WorkerProcess = ChildProcess & { ready: Promise<void>; output: () => string };

/**
 * A worker process against a test server, ready once it prints "ready": the project's own entry
 * (`workers/<queue>.ts`, configured by `R4EC__…` env overrides) or a test's worker script (`entry`).
 */
export function spawnWorker(
  opts: { queue: 'cpu' | 'llm' | 'gpu'; address: string; stateDir: string; env?: Record<string, string> } | { entry: string; env: Record<string, string> },
): WorkerProcess {
  const [script, env] =
    'entry' in opts
      ? [opts.entry, opts.env]
      : [resolve(root, 'workers', `${opts.queue}.ts`), { R4EC__TEMPORAL__ADDRESS: opts.address, R4EC_STATE_DIR: opts.stateDir, ...opts.env }];
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const ready = new Promise<void>((res, rej) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) res();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => rej(new Error(`worker exited (${code}) before ready:\n${out}`)));
  });
  return Object.assign(child, { ready, output: () => out });
}

export function waitExit(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((r) => child.once('exit', (c) => r(c)));
}

/** A TCP port free right now on 127.0.0.1 (for servers whose port must be known before they start). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}
