import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

const root = resolve(__dirname, '..', '..');

/** A real worker process (`workers/<queue>.ts`) against a test server; killable with SIGKILL. */
export function spawnWorker(opts: { queue: 'cpu' | 'llm' | 'gpu'; address: string; stateDir: string; env?: Record<string, string> }): ChildProcess & { ready: Promise<void>; output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(root, 'workers', `${opts.queue}.ts`)], {
    cwd: root,
    env: { ...process.env, R4EC__TEMPORAL__ADDRESS: opts.address, R4EC_STATE_DIR: opts.stateDir, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
