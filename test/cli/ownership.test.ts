// A run owns or explicitly joins its dev server: a server of another state dir (or not r4ec's) on the
// configured port is refused with the cause and the way out; `temporal.address` joins on purpose.
// r4ec processes of one state dir share its server, and the last one to stop stops it.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, test } from 'node:test';
import { cli, eventually, freePort, processesMentioning, reap, run, tempDir } from './procs';
import { portOpen } from '../../runtime/dev-server';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) {
    reap(d);
    rmSync(d, { recursive: true, force: true });
  }
});

function stateDir(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

const nothingLeft = (dir: string, ms = 8000) =>
  eventually(() => processesMentioning(dir).length === 0, ms, () => `still running for ${dir}:\n${processesMentioning(dir).map((p) => `${p.pid} ${p.cmd}`).join('\n')}`);

test('a run refuses a server of another state dir or of nobody, names it and says how to choose; temporal.address joins on purpose', async () => {
  const a = stateDir('r4ec-own-a-');
  const b = stateDir('r4ec-own-b-');
  const port = await freePort();
  const ports = { R4EC__TEMPORAL__DEV_SERVER__PORT: String(port), R4EC__TEMPORAL__DEV_SERVER__UI_PORT: String(await freePort()) };
  const up = cli(['up'], { R4EC_STATE_DIR: a, ...ports });
  try {
    await up.waitFor(/Ctrl-C stops everything/, 90_000);

    const refused = await run(['run', '--only', 'ingest', '--json'], { R4EC_STATE_DIR: b, ...ports }, 60_000);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, new RegExp(`error \\[temporal_port_taken\\]: port ${port} is in use by the Temporal dev server of another r4ec state dir \\(${a}\\); this state dir is ${b}`));
    assert.match(refused.stderr, /suggestion: give this state dir its own ports: R4EC__TEMPORAL__DEV_SERVER__PORT=\d+/);
    assert.match(refused.stderr, new RegExp(`set temporal\\.address: 127\\.0\\.0\\.1:${port}`));
    assert.doesNotMatch(refused.stderr, /Temporal Web UI/, 'nothing started');
    const failure = (JSON.parse(refused.stdout) as { failure: { code: string; suggestion: string } }).failure;
    assert.equal(failure.code, 'temporal_port_taken');

    // A worker of state dir b on a's port: refused the same way.
    const worker = await run(['worker', '--queue', 'cpu'], { R4EC_STATE_DIR: b, ...ports }, 60_000);
    assert.equal(worker.code, 1, worker.stderr);
    assert.match(worker.stderr, /\[temporal_port_taken\]/);

    // Named as temporal.address: the run joins a's server on purpose, and a's workers serve it.
    const joined = await run(['run', '--only', 'ingest', '--json', '--run-id', 'joined'], { R4EC_STATE_DIR: b, R4EC__TEMPORAL__ADDRESS: `127.0.0.1:${port}` }, 90_000);
    assert.equal(joined.code, 0, joined.stderr);
    assert.equal((JSON.parse(joined.stdout) as { stages: Record<string, { status: string }> }).stages.ingest?.status, 'completed');
  } finally {
    up.child.kill('SIGINT');
    await up.exited;
  }
  await nothingLeft(a);

  // Something that is not a Temporal server holds the port.
  const plain = createServer((s) => s.end());
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  const plainPort = (plain.address() as { port: number }).port;
  try {
    const c = stateDir('r4ec-own-c-');
    const r = await run(['run', '--only', 'ingest'], { R4EC_STATE_DIR: c, R4EC__TEMPORAL__DEV_SERVER__PORT: String(plainPort), R4EC__TEMPORAL__DEV_SERVER__UI_PORT: String(await freePort()) }, 60_000);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`error \\[temporal_port_taken\\]: port ${plainPort} is in use by a program that is not a Temporal server`));
    assert.doesNotMatch(r.stderr, /\[unexpected\]/);
  } finally {
    plain.close();
  }
});

test('two runs on one state dir: started together both succeed (never "npm run setup"); the last one to stop stops the server', async () => {
  const dir = stateDir('r4ec-own-two-');
  const port = await freePort();
  const env = { R4EC_STATE_DIR: dir, R4EC__TEMPORAL__DEV_SERVER__PORT: String(port), R4EC__TEMPORAL__DEV_SERVER__UI_PORT: String(await freePort()) };

  // The same command twice at once (the same run: the second attaches to it).
  const [x, y] = await Promise.all([run(['run', '--only', 'ingest'], env, 120_000), run(['run', '--only', 'ingest'], env, 120_000)]);
  for (const r of [x, y]) {
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /npm run setup|address already in use/);
  }
  await nothingLeft(dir);

  // The short run starts the server; the long one joins; the short one ends and must not stop it.
  const short = cli(['run', '--only', 'ingest', '--run-id', 'short'], env);
  await eventually(() => portOpen(port), 60_000, () => `no server:\n${short.err()}`);
  const long = cli(['run', '--until', 'construct', '--run-id', 'long'], { ...env, R4EC__CONSTRUCT__SAMPLE_FRACTION: '0.02', R4EC__LLM__SIMULATOR__LATENCY_MS: '1500' });
  await long.waitFor(/run long \(/, 90_000);
  const { code } = await short.exited;
  assert.equal(code, 0, short.err());
  await new Promise((r) => setTimeout(r, 2000));
  assert.ok(await portOpen(port), 'the server stays up for the run still using it');
  await long.waitFor(/▸ construct/, 60_000);
  long.child.kill('SIGINT');
  assert.equal((await long.exited).code, 130, long.err());
  assert.doesNotMatch(long.err(), /\[unexpected\]/);
  await nothingLeft(dir);
});
