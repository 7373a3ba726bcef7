// The local Temporal dev server (`temporal server start-dev`) of one state dir: its SQLite file lives
// in the state dir, so stopping and restarting it loses nothing.
//
// A state dir owns its server. The server records the state dir it belongs to in its `default`
// namespace's data; an r4ec process that finds a server on its port joins it only when that record
// names its own state dir, and refuses otherwise (another state dir's server would run this run's
// tasks with that state dir's workers and store). Joining a foreign server on purpose is
// `temporal.address`.
//
// The r4ec processes of one state dir share its server: each registers under
// `<stateDir>/dev-server/users/` and the last one to leave stops it. A small keeper script started
// with the server stops it when every registered process has died (SIGKILL included), so no server
// outlives the processes using it. Starting, joining and the last leave happen under one lock
// (runtime/state-lock.ts), which the keeper takes too.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../config/names';
import { R4ecError } from '../core/errors';
import type { Lifecycle } from './lifecycle';
import { temporalBinary } from './paths';
import { pidAlive, withStateLock } from './state-lock';

export interface DevServer {
  address: string;
  uiUrl: string;
  /** The server process when this process started it. */
  process: ChildProcess | undefined;
  /** True when this process joined a server another r4ec process of the same state dir started. */
  attached: boolean;
  pid: number | undefined;
  /** Leaves the server: the last r4ec process of the state dir to leave stops it. Idempotent. */
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
  /** Registers the leave with the command's lifecycle as soon as there is something to stop. */
  life?: Lifecycle;
  /** Progress lines (waiting for another process of the state dir). */
  log?: (line: string) => void;
}

/** The namespace data key that names the state dir a dev server belongs to. */
export const STATE_DIR_MARKER = 'r4ec-state-dir';
const MARKER_NAMESPACE = 'default';
/** SIGTERM → SIGKILL grace for the server, in ms. */
const STOP_GRACE_MS = 10_000;

interface ServerRecord {
  pid: number;
  keeperPid?: number;
  host: string;
  port: number;
  uiPort: number;
  startedAt: string;
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

// The keeper: $1 control dir, $2 server pid (its own process group), $3 grace in tenths of a second.
// Every second: drop registered users whose process is gone; when none is left, take the lock, look
// again, and stop the server's group. Exits when the server is gone.
const KEEPER = [
  "trap '' INT TERM HUP QUIT",
  'ctl=$1; server=$2; grace=$3; lock="$ctl/lock"',
  'alive() { kill -0 "$1" 2>/dev/null; }',
  'anyuser() { for f in "$ctl"/users/*; do [ -e "$f" ] || continue; p=${f##*/}; p=${p%%-*}; if alive "$p"; then return 0; fi; rm -f "$f"; done; return 1; }',
  'take() { n=0; while ! ln -s "$$" "$lock" 2>/dev/null; do h=$(readlink "$lock" 2>/dev/null); if [ -n "$h" ] && ! alive "$h"; then rm -f "$lock"; fi; n=$((n+1)); [ "$n" -gt 50 ] && return 1; sleep 0.1; done; return 0; }',
  'while alive "$server"; do',
  '  if ! anyuser && take; then',
  '    if ! anyuser; then',
  '      kill -TERM -"$server" 2>/dev/null',
  '      i=0; while alive "$server" && [ "$i" -lt "$grace" ]; do sleep 0.1; i=$((i+1)); done',
  '      kill -KILL -"$server" 2>/dev/null',
  '      rm -f "$ctl/server.json"; rm -f "$lock"; exit 0',
  '    fi',
  '    rm -f "$lock"',
  '  fi',
  '  sleep 1',
  'done',
  'exit 0',
].join('\n');

function controlDir(stateDir: string): string {
  return join(stateDir, 'dev-server');
}

let userSeq = 0;
const myUserFiles = new Set<string>();
let exitHook = false;
function registerUser(ctl: string): string {
  const file = join(ctl, 'users', `${process.pid}-${++userSeq}`);
  writeFileSync(file, `${new Date().toISOString()} ${process.argv.slice(1).join(' ')}\n`);
  myUserFiles.add(file);
  if (!exitHook) {
    exitHook = true;
    // However this process ends short of SIGKILL, it stops counting as a user at once.
    process.on('exit', () => {
      for (const f of myUserFiles) rmSync(f, { force: true });
    });
  }
  return file;
}

function unregisterUser(file: string): void {
  rmSync(file, { force: true });
  myUserFiles.delete(file);
}

function liveUsers(ctl: string): number {
  let n = 0;
  let names: string[] = [];
  try {
    names = readdirSync(join(ctl, 'users'));
  } catch {
    return 0;
  }
  for (const name of names) {
    if (pidAlive(Number(name.split('-')[0]))) n++;
    else rmSync(join(ctl, 'users', name), { force: true });
  }
  return n;
}

function readRecord(ctl: string): ServerRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(ctl, 'server.json'), 'utf8')) as ServerRecord;
  } catch {
    return undefined;
  }
}

async function stopServerProcess(pid: number, graceMs = STOP_GRACE_MS): Promise<void> {
  const group = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      /* gone */
    }
  };
  group('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  group('SIGKILL');
  while (pidAlive(pid) && Date.now() < deadline + 2000) await new Promise((r) => setTimeout(r, 50));
}

/** Which state dir the Temporal server at `address` belongs to, if it is an r4ec dev server. */
export async function serverOwner(address: string): Promise<{ kind: 'r4ec'; stateDir: string } | { kind: 'temporal' } | { kind: 'other'; why: string }> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 3000 });
    const ns = await connection.workflowService.describeNamespace({ namespace: MARKER_NAMESPACE });
    const dir = ns.namespaceInfo?.data?.[STATE_DIR_MARKER];
    return dir ? { kind: 'r4ec', stateDir: dir } : { kind: 'temporal' };
  } catch (err) {
    return { kind: 'other', why: (err as Error).message.split('\n')[0] ?? '' };
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

async function writeMarker(address: string, stateDir: string): Promise<void> {
  const connection = await connectWithRetry(address);
  try {
    await connection.workflowService.updateNamespace({ namespace: MARKER_NAMESPACE, updateInfo: { data: { [STATE_DIR_MARKER]: stateDir } } });
  } finally {
    await connection.close();
  }
}

function portHelp(port: number, uiPort: number): string {
  return `R4EC__TEMPORAL__DEV_SERVER__PORT=${port + 10} R4EC__TEMPORAL__DEV_SERVER__UI_PORT=${uiPort + 10} (or temporal.devServer.port / uiPort in the config)`;
}

/** The error for a port held by a server this state dir may not join. */
export function portTakenError(opts: { port: number; uiPort: number; host: string; stateDir: string; owner: Awaited<ReturnType<typeof serverOwner>> }): R4ecError {
  const { port, uiPort, host, stateDir, owner } = opts;
  const address = `${host}:${port}`;
  const whose =
    owner.kind === 'r4ec'
      ? `the Temporal dev server of another r4ec state dir (${owner.stateDir})`
      : owner.kind === 'temporal'
        ? 'a Temporal server that r4ec did not start for any state dir'
        : `a program that is not a Temporal server (${owner.why})`;
  return new R4ecError(`port ${port} is in use by ${whose}; this state dir is ${stateDir}`, 'temporal_port_taken', {
    suggestion:
      `give this state dir its own ports: ${portHelp(port, uiPort)}; ` +
      `or, to run in that server on purpose, set temporal.address: ${address} (R4EC__TEMPORAL__ADDRESS=${address}) — its workers then run this run's tasks with their own config and store`,
    exitCode: 1,
  });
}

/**
 * For processes that use the embedded dev server without starting it (`r4ec worker`, `status`, …):
 * it must be running and belong to this state dir.
 */
export async function checkDevServer(opts: { stateDir: string; port: number; uiPort: number; host?: string }): Promise<string> {
  const host = opts.host ?? '127.0.0.1';
  const stateDir = canonical(opts.stateDir);
  const address = `${host}:${opts.port}`;
  if (!(await portOpen(opts.port, host))) {
    const rec = readRecord(controlDir(stateDir));
    const elsewhere = rec && pidAlive(rec.pid) && rec.port !== opts.port ? ` (the dev server of this state dir runs on port ${rec.port})` : '';
    throw new R4ecError(`no Temporal server at ${address}${elsewhere}`, 'temporal_unreachable', {
      suggestion: 'start one with `r4ec up` (same R4EC_STATE_DIR and ports), or set temporal.address in the config',
    });
  }
  const owner = await serverOwner(address);
  if (owner.kind === 'r4ec' && owner.stateDir === stateDir) return address;
  throw portTakenError({ port: opts.port, uiPort: opts.uiPort, host, stateDir, owner });
}

function canonical(stateDir: string): string {
  mkdirSync(stateDir, { recursive: true });
  return realpathSync(stateDir);
}

/** The end of the server log written since `from`: why a start failed. */
function logSince(path: string, from: number): string {
  try {
    const size = statSync(path).size;
    const start = Math.max(from, size - 8192);
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(size - start);
      readSync(fd, buf, 0, buf.length, start);
      return buf.toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}

/**
 * Starts this state dir's dev server, or joins it when another r4ec process of the state dir already
 * runs it. Refuses a port held by anything else. Registers the search attributes.
 */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const host = opts.host ?? '127.0.0.1';
  const address = `${host}:${opts.port}`;
  const uiUrl = `http://localhost:${opts.uiPort}`;
  const stateDir = canonical(opts.stateDir);
  const ctl = controlDir(stateDir);
  mkdirSync(join(ctl, 'users'), { recursive: true });
  const lockPath = join(ctl, 'lock');
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));

  let userFile: string | undefined;
  let starting = true;
  let child: ChildProcess | undefined;
  let left: Promise<void> | undefined;
  const leave = (): Promise<void> =>
    (left ??= (async () => {
      if (!userFile) return;
      const file = userFile;
      const last = async () => {
        unregisterUser(file);
        if (liveUsers(ctl) > 0) return;
        const rec = readRecord(ctl);
        const pid = child?.pid ?? rec?.pid;
        if (pid !== undefined) await stopServerProcess(pid);
        rmSync(join(ctl, 'server.json'), { force: true });
      };
      // During our own start we hold the lock already, and nobody can have joined.
      if (starting) await last();
      else await withStateLock(lockPath, last, { timeoutMs: 30_000 });
    })());
  const undo = opts.life?.defer('the Temporal dev server', leave, STOP_GRACE_MS + 5000);

  try {
    const server = await withStateLock(
      lockPath,
      async (): Promise<DevServer> => {
        const rec = readRecord(ctl);
        const recAlive = rec !== undefined && pidAlive(rec.pid);
        if (rec && !recAlive) rmSync(join(ctl, 'server.json'), { force: true });
        if (await portOpen(opts.port, host)) {
          const owner = await serverOwner(address);
          if (owner.kind !== 'r4ec' || owner.stateDir !== stateDir) throw portTakenError({ port: opts.port, uiPort: opts.uiPort, host, stateDir, owner });
          userFile = registerUser(ctl);
          await ensureSearchAttributes(address, opts.namespace);
          return { address, uiUrl, process: undefined, attached: true, pid: rec?.pid, stop: leave };
        }
        if (rec && recAlive && rec.port === opts.port) {
          // Our own server on our port, which no longer answers: it is going down (a killed server's
          // process outlives its port for a moment). Wait for it before starting another on its file.
          for (let i = 0; i < 75 && pidAlive(rec.pid); i++) await new Promise((r) => setTimeout(r, 200));
          if (pidAlive(rec.pid)) {
            throw new R4ecError(`the dev server of state dir ${stateDir} (pid ${rec.pid}) does not answer on port ${opts.port} and has not exited in 15 s`, 'temporal_server_hung', {
              suggestion: `stop it (kill ${rec.pid}) and run again; two servers on one SQLite file would corrupt it`,
            });
          }
          rmSync(join(ctl, 'server.json'), { force: true });
        } else if (rec && recAlive) {
          throw new R4ecError(`the dev server of state dir ${stateDir} already runs on port ${rec.port} (pid ${rec.pid}), not on the configured port ${opts.port}`, 'temporal_server_elsewhere', {
            suggestion: `use port ${rec.port} (R4EC__TEMPORAL__DEV_SERVER__PORT=${rec.port}), or stop the r4ec processes using it first; two servers on one SQLite file would corrupt it`,
          });
        }
        if (await portOpen(opts.uiPort, host)) {
          throw new R4ecError(`the Web UI port ${opts.uiPort} is in use by another program`, 'temporal_port_taken', {
            suggestion: `choose another UI port: R4EC__TEMPORAL__DEV_SERVER__UI_PORT=${opts.uiPort + 10} (or temporal.devServer.uiPort in the config)`,
          });
        }
        mkdirSync(join(stateDir, 'logs'), { recursive: true });
        const logPath = join(stateDir, 'logs', 'temporal-server.log');
        const logFd = openSync(logPath, 'a');
        const logFrom = statSync(logPath).size;
        const bin = temporalBinary(opts.env);
        const args = [
          'server', 'start-dev',
          '--db-filename', join(stateDir, 'temporal.sqlite'),
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
        userFile = registerUser(ctl);
        // Its own process group: the terminal's Ctrl-C reaches r4ec, which stops the workers first.
        child = spawn(bin, args, { stdio: ['ignore', logFd, logFd], detached: true });
        closeSync(logFd);
        const spawnError = new Promise<Error>((r) => child!.once('error', r));
        const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
        if (child.pid !== undefined) {
          const keeper = spawn('sh', ['-c', KEEPER, 'r4ec-dev-server-keeper', ctl, String(child.pid), String(STOP_GRACE_MS / 100)], { stdio: 'ignore', detached: true });
          keeper.on('error', () => undefined);
          keeper.unref();
          const record: ServerRecord = { pid: child.pid, ...(keeper.pid ? { keeperPid: keeper.pid } : {}), host, port: opts.port, uiPort: opts.uiPort, startedAt: new Date().toISOString() };
          writeFileSync(join(ctl, 'server.json'), JSON.stringify(record) + '\n');
        }

        const deadline = Date.now() + 60_000;
        for (;;) {
          opts.life?.signal.throwIfAborted();
          const ready = await Promise.race([
            portOpen(opts.port, host).then((ok) => (ok ? 'up' : 'wait')),
            exited.then(() => 'exited' as const),
            spawnError.then(() => 'spawn-error' as const),
          ]);
          if (ready === 'up') break;
          if (ready === 'spawn-error') {
            throw new R4ecError(`the Temporal CLI (${bin}) could not be started: ${(await spawnError).message}`, 'temporal_cli_missing', {
              suggestion: 'run `npm run setup` to install the Temporal CLI into .tools/, or set R4EC_TEMPORAL_BIN',
            });
          }
          if (ready === 'exited') throw await startFailure({ logPath, logFrom, code: await exited, host, port: opts.port, uiPort: opts.uiPort, stateDir });
          if (Date.now() > deadline) throw new R4ecError(`the Temporal dev server did not open port ${opts.port} within 60 s: see ${logPath}`, 'temporal_server_timeout');
          await new Promise((r) => setTimeout(r, 200));
        }
        await writeMarker(address, stateDir);
        await ensureSearchAttributes(address, opts.namespace);
        child.unref();
        return { address, uiUrl, process: child, attached: false, pid: child.pid, stop: leave };
      },
      {
        signal: opts.life?.signal,
        onWait: (pid) => log(`r4ec: waiting for r4ec process ${pid ?? '?'} of this state dir to finish starting or stopping its dev server`),
      },
    );
    starting = false;
    return server;
  } catch (err) {
    await leave();
    undo?.();
    throw err;
  }
}

async function startFailure(o: { logPath: string; logFrom: number; code: number | null; host: string; port: number; uiPort: number; stateDir: string }): Promise<R4ecError> {
  const text = logSince(o.logPath, o.logFrom);
  const inUse = /listen tcp [^\s]*?:(\d+): bind: address already in use/.exec(text) ?? (/address already in use/.test(text) ? ['', '?'] : null);
  if (inUse) {
    // Someone took the port between our check and the server's bind: name them if we can.
    if (await portOpen(o.port, o.host)) {
      const owner = await serverOwner(`${o.host}:${o.port}`);
      if (!(owner.kind === 'r4ec' && owner.stateDir === o.stateDir)) return portTakenError({ port: o.port, uiPort: o.uiPort, host: o.host, stateDir: o.stateDir, owner });
    }
    return new R4ecError(`the Temporal dev server could not listen on port ${inUse[1]}: address already in use (see ${o.logPath})`, 'temporal_port_taken', {
      suggestion: `choose free ports for this state dir: ${portHelp(o.port, o.uiPort)}`,
    });
  }
  const last = text.trim().split('\n').slice(-3).join('\n  ');
  return new R4ecError(`the Temporal dev server exited (code ${String(o.code)}) while starting${last ? `:\n  ${last}` : ''}\n  (log: ${o.logPath})`, 'temporal_server_failed', {
    suggestion: 'read the log above; a broken .tools/temporal is reinstalled by `npm run setup`',
  });
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

/** For tests: the registered users of a state dir's server and its record. */
export function devServerState(stateDir: string): { record: ServerRecord | undefined; users: number } {
  const ctl = controlDir(canonical(stateDir));
  return { record: readRecord(ctl), users: liveUsers(ctl) };
}
