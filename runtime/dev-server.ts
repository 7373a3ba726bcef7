// The local Temporal dev server (`temporal server start-dev`) with its SQLite file under the state
// dir, so stopping and restarting it loses nothing.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../config/names';
import { R4ecError } from '../core/errors';
import { temporalBinary } from './paths';

export interface DevServer {
  address: string;
  uiUrl: string;
  process: ChildProcess | undefined;
  /** True when a server was already listening and we attached to it. */
  attached: boolean;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  stateDir: string;
  port: number;
  uiPort: number;
  namespace: string;
  host?: string;
  env?: NodeJS.ProcessEnv;
  /** SQLite `synchronous` (the file is in WAL mode): `normal` (default) or `full`. */
  sync?: 'normal' | 'full';
}

export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolveOpen) => {
    const sock = createConnection({ port, host });
    const done = (ok: boolean) => {
      sock.destroy();
      resolveOpen(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** Starts the dev server, or attaches to one already on the port. Registers the search attributes. */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const host = opts.host ?? '127.0.0.1';
  const address = `${host}:${opts.port}`;
  const uiUrl = `http://localhost:${opts.uiPort}`;
  if (await portOpen(opts.port, host)) {
    await ensureSearchAttributes(address, opts.namespace);
    return { address, uiUrl, process: undefined, attached: true, stop: async () => {} };
  }
  mkdirSync(join(opts.stateDir, 'logs'), { recursive: true });
  const log = openSync(join(opts.stateDir, 'logs', 'temporal-server.log'), 'a');
  const bin = temporalBinary(opts.env);
  const args = [
    'server', 'start-dev',
    '--db-filename', join(opts.stateDir, 'temporal.sqlite'),
    '--ip', host,
    '--port', String(opts.port),
    '--ui-port', String(opts.uiPort),
    '--namespace', opts.namespace,
    '--log-level', 'warn',
    // WAL: a commit appends to the log instead of rewriting pages through a rollback journal; with
    // synchronous=normal it is not fsynced per commit. Measured on 2 cores: construction 4.8 → 10.4
    // inferences/s (in memory: 12.7); still safe against kill -9 of the server.
    '--sqlite-pragma', 'journal_mode=wal',
    '--sqlite-pragma', `synchronous=${opts.sync ?? 'normal'}`,
  ];
  for (const sa of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${sa}=Keyword`);
  const child = spawn(bin, args, { stdio: ['ignore', log, log], detached: false });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.once('error', () => undefined);
  const spawnError = new Promise<Error>((r) => child.once('error', r));

  const deadline = Date.now() + 60_000;
  for (;;) {
    const ready = await Promise.race([
      portOpen(opts.port, host).then((ok) => (ok ? 'up' : 'wait')),
      exited.then(() => 'exited' as const),
      spawnError.then(() => 'spawn-error' as const),
    ]);
    if (ready === 'up') break;
    if (ready === 'spawn-error' || ready === 'exited') {
      throw new R4ecError(`the Temporal dev server (${bin}) did not start: see ${join(opts.stateDir, 'logs', 'temporal-server.log')}`, 'temporal_server_failed', {
        suggestion: 'run `npm run setup` to install the Temporal CLI into .tools/, or set R4EC_TEMPORAL_BIN',
      });
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new R4ecError(`the Temporal dev server did not open port ${opts.port} within 60 s`, 'temporal_server_timeout');
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await ensureSearchAttributes(address, opts.namespace);
  return {
    address,
    uiUrl,
    process: child,
    attached: false,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * Adds the missing R4ec search attributes. `--search-attribute` at start covers a new database only;
 * this also covers an existing one (and a server someone else started). Idempotent.
 */
export async function ensureSearchAttributes(address: string, namespace: string): Promise<string[]> {
  const connection = await connectWithRetry(address);
  try {
    const { Keyword } = { Keyword: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD };
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    const have = new Set(Object.keys(existing.customAttributes ?? {}));
    const missing = SEARCH_ATTRIBUTES.filter((s) => !have.has(s));
    if (missing.length > 0) {
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map((s) => [s, Keyword])),
      });
    }
    return missing;
  } finally {
    await connection.close();
  }
}

async function connectWithRetry(address: string): Promise<Connection> {
  let lastErr: unknown;
  for (let i = 0; i < 50; i++) {
    try {
      return await Connection.connect({ address, connectTimeout: 2000 });
    } catch (err) {
      lastErr = err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new R4ecError(`cannot connect to Temporal at ${address}: ${String(lastErr)}`, 'temporal_unreachable');
}
