// Signals and failures at any moment leave nothing running: `r4ec up` and `r4ec run` as real
// processes, each with its own state dir and ports; after each, no process of that state dir (dev
// server, keeper) and no child of the CLI survives.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { alive, cli, descendants, eventually, freePort, processesMentioning, reap, run, tempDir } from './procs';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) {
    reap(d);
    rmSync(d, { recursive: true, force: true });
  }
});

async function stateEnv(prefix: string, extra: Record<string, string> = {}): Promise<{ dir: string; env: Record<string, string>; port: number }> {
  const dir = tempDir(prefix);
  dirs.push(dir);
  const port = await freePort();
  return {
    dir,
    port,
    env: { R4EC_STATE_DIR: dir, R4EC__TEMPORAL__DEV_SERVER__PORT: String(port), R4EC__TEMPORAL__DEV_SERVER__UI_PORT: String(await freePort()), ...extra },
  };
}

const nothingLeft = (dir: string, ms = 8000) =>
  eventually(() => processesMentioning(dir).length === 0, ms, () => `still running for ${dir}:\n${processesMentioning(dir).map((p) => `${p.pid} ${p.cmd}`).join('\n')}`);

// A run that stays in construct for a while: few entities, each teacher call slow.
const slowRun = { R4EC__CONSTRUCT__SAMPLE_FRACTION: '0.02', R4EC__LLM__SIMULATOR__LATENCY_MS: '1500' };

test('up: SIGTERM during startup stops it and its dev server within seconds', async (t) => {
  const { dir, env } = await stateEnv('r4ec-sig-up-');
  const up = cli(['up'], env);
  // The moment its dev server process exists, r4ec is still starting (search attributes, workers).
  await eventually(() => processesMentioning(dir).length > 0, 30_000, () => `no dev server appeared:\n${up.err()}`);
  assert.doesNotMatch(up.err(), /Ctrl-C stops everything/, 'still starting');
  const sent = Date.now();
  up.child.kill('SIGTERM');
  const { at } = await up.exited;
  t.diagnostic(`r4ec up stopped ${at - sent} ms after SIGTERM during startup`);
  assert.ok(at - sent < 10_000, `r4ec up took ${at - sent} ms to stop`);
  await nothingLeft(dir);
  assert.doesNotMatch(up.err(), /\[unexpected\]/);
});

test('up: SIGKILL of the CLI leaves no dev server behind', async () => {
  const { dir, env } = await stateEnv('r4ec-sig-kill-');
  const up = cli(['up', '--no-workers'], env);
  await up.waitFor(/Ctrl-C stops everything/);
  assert.ok(processesMentioning(dir).length > 0);
  up.child.kill('SIGKILL');
  await up.exited;
  await nothingLeft(dir);
});

test('run: Ctrl-C mid-run stops in seconds and says how to resume; SIGKILL mid-run leaves nothing; running again finishes the run', async (t) => {
  const { dir, env } = await stateEnv('r4ec-sig-run-', slowRun);
  const args = ['run', '--until', 'construct', '--run-id', 'sig-run'];

  const first = cli(args, env);
  await first.waitFor(/▸ construct/, 90_000);
  const children = descendants(first.pid);
  assert.ok(children.length > 0, 'the run has child processes (dev server)');
  const sent = Date.now();
  first.child.kill('SIGINT');
  const { code, at } = await first.exited;
  t.diagnostic(`r4ec run stopped ${at - sent} ms after SIGINT mid-construct`);
  assert.ok(at - sent < 10_000, `r4ec run took ${at - sent} ms to stop after SIGINT`);
  assert.equal(code, 130, first.err());
  assert.match(first.err(), /error \[interrupted\]: run sig-run interrupted \(SIGINT\)/);
  assert.match(first.err(), /run the same command again .* to continue it/);
  assert.doesNotMatch(first.err(), /\[unexpected\]|at .*\.ts:\d+/);
  await nothingLeft(dir);
  for (const c of children) assert.ok(!alive(c.pid), `child ${c.pid} (${c.cmd}) survived`);

  // Again, then SIGKILL of the CLI: its dev server and every child go too.
  const second = cli(args, env);
  await second.waitFor(/run sig-run \(/, 90_000);
  await new Promise((r) => setTimeout(r, 1000));
  const children2 = descendants(second.pid);
  second.child.kill('SIGKILL');
  const killed = Date.now();
  await second.exited;
  await nothingLeft(dir);
  t.diagnostic(`no process of the state dir left ${Date.now() - killed} ms after SIGKILL of r4ec run`);
  for (const c of children2) await eventually(() => !alive(c.pid), 8000, () => `child ${c.pid} (${c.cmd}) survived SIGKILL of r4ec`);

  // The run was kept: running it again (fast teacher now) completes it.
  const third = await run([...args, '--json'], { ...env, R4EC__LLM__SIMULATOR__LATENCY_MS: '0' });
  assert.equal(third.code, 0, third.stderr);
  const summary = JSON.parse(third.stdout) as { runId: string; stages: Record<string, { status: string }> };
  assert.equal(summary.runId, 'sig-run');
  assert.equal(summary.stages.construct?.status, 'completed');
  await nothingLeft(dir);
});

test('run: a failure after start-up (a busy simulator port, a missing codec key) stops everything and exits with the error', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const simPort = (busy.address() as { port: number }).port;
  try {
    const { dir, env } = await stateEnv('r4ec-sig-fail-', { R4EC__LLM__SIMULATOR__PORT: String(simPort) });
    const r = await run(['run', '--only', 'ingest', '--json'], env, 60_000);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /error \[port_in_use\]: the LLM simulator cannot listen on 127\.0\.0\.1:\d+: address already in use/);
    assert.match(r.stderr, /suggestion: choose another port/);
    assert.doesNotMatch(r.stderr, /\[unexpected\]/);
    assert.equal((JSON.parse(r.stdout) as { failure: { code: string } }).failure.code, 'port_in_use');
    await nothingLeft(dir);
  } finally {
    busy.close();
  }

  const { dir, env } = await stateEnv('r4ec-sig-key-', { R4EC__CODEC__ENABLED: 'true', R4EC__CODEC__KEY_ENV: 'R4EC_TEST_MISSING_KEY' });
  const r = await run(['run', '--only', 'ingest'], env, 60_000);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /error \[codec_key_missing\]: payload encryption is enabled but \$R4EC_TEST_MISSING_KEY is not set/);
  assert.match(r.stderr, /suggestion: export R4EC_TEST_MISSING_KEY=/);
  await nothingLeft(dir);
});

test('sim-llm and worker stop on SIGTERM, also during startup', async () => {
  const { dir, env } = await stateEnv('r4ec-sig-sim-');
  const catalog = join(dir, 'catalog.json');
  writeFileSync(catalog, JSON.stringify([{ id: '1', title: 'A Film', year: 1999, genres: ['Drama'] }]));
  const sim = cli(['sim-llm', '--port', '0', '--catalog', catalog], env);
  await sim.waitFor(/LLM SIMULATOR/);
  sim.child.kill('SIGTERM');
  assert.equal((await sim.exited).code, 0, sim.err());

  // A worker for the embedded default with no server of its state dir: a clear error, no hang.
  const w = await run(['worker', '--queue', 'cpu'], env, 30_000);
  assert.equal(w.code, 1, w.stderr);
  assert.match(w.stderr, /error \[temporal_unreachable\]: no Temporal server at 127\.0\.0\.1:\d+/);

  // SIGTERM within the first second.
  const early = cli(['sim-llm', '--port', '0', '--catalog', catalog], env);
  await new Promise((r) => setTimeout(r, 300));
  const sent = Date.now();
  early.child.kill('SIGTERM');
  const { at } = await early.exited;
  assert.ok(at - sent < 5000, `sim-llm took ${at - sent} ms`);
});
