// Killing the dev server and every worker mid-run and starting them again completes the run
// without redoing finished stages or repeating completed LLM calls, over the whole DAG.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { smallPipelineConfig } from '../helpers/pipeline';
import { pidAlive } from '../../runtime/state-lock';
import { freePort } from '../helpers/processes';

const root = resolve(__dirname, '..', '..');
const stateDir = mkdtempSync(join(tmpdir(), 'r4ec-restart-'));
/** Completed LLM calls before the kill: well inside construction (hundreds of calls). */
const KILL_AFTER_CALLS = 20;
after(() => rmSync(stateDir, { recursive: true, force: true }));

function run(cfg: string): ChildProcess & { out: () => string; done: Promise<number | null> } {
  // Its own process group: killing the group takes the CLI and its in-process workers down at once.
  const child = spawn(process.execPath, [resolve(root, 'bin', 'r4ec.js'), 'run', '--config', cfg, '--run-id', 'restart-run', '--json'], {
    cwd: root,
    env: { ...process.env, R4EC_STATE_DIR: stateDir },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<number | null>((r) => child.once('exit', r));
  return Object.assign(child, { out: () => out, done });
}

test('dev server and all workers killed mid-run: the rerun re-attaches and completes without redoing stages or completed LLM calls', async () => {
  const port = await freePort();
  const uiPort = await freePort();
  // Simulated latency keeps construction's LLM calls going for tens of seconds (entity batches make the
  // stage a matter of seconds otherwise), so the kill below lands among them.
  const raw = await smallPipelineConfig(stateDir, { temporal: { devServer: { port, uiPort } }, llm: { simulator: { latencyMs: 150 } } });
  const cfg = join(stateDir, 'cfg.json');
  writeFileSync(cfg, JSON.stringify(raw));

  const first = run(cfg);
  // Kill everything once construction's LLM calls are under way: the simulator's request log is the
  // signal (the progress lines come every few seconds and may never show a short stage running).
  const simLog = join(stateDir, 'logs', 'sim-requests.jsonl');
  const okCalls = () => (existsSync(simLog) ? readFileSync(simLog, 'utf8').split('\n').filter((l) => l.includes('"outcome":"ok"')).length : 0);
  for (let i = 0; okCalls() < KILL_AFTER_CALLS; i++) {
    assert.ok(i < 2400 && first.exitCode === null, `construct made no LLM calls:\n${first.out()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // The dev server runs in a process group of its own (r4ec stops it after its workers): kill -9 it too.
  const server = JSON.parse(readFileSync(join(stateDir, 'dev-server', 'server.json'), 'utf8')) as { pid: number };
  process.kill(-first.pid!, 'SIGKILL');
  process.kill(-server.pid, 'SIGKILL');
  await first.done;
  // SIGKILL is delivered, not awaited: a rerun that found the old server still dying would see this
  // state dir's server alive with its port closed, and refuse to start a second one on its database.
  for (let i = 0; pidAlive(server.pid); i++) {
    assert.ok(i < 300, `the dev server (pid ${server.pid}) outlived SIGKILL by 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const okAtKill = okCalls();

  const second = run(cfg);
  const code = await second.done;
  assert.equal(code, 0, second.out());
  const summary = JSON.parse(second.out().split('\n').find((l) => l.startsWith('{"runId"'))!) as { runId: string; stages: Record<string, { status: string; skipped: boolean }> };
  assert.equal(summary.runId, 'restart-run');
  // Re-attached to the same execution: ingest's result came from history ("completed"; a new
  // execution would have found its output: "skipped"), and every later stage ran once, in it.
  assert.deepEqual(
    Object.entries(summary.stages).map(([s, v]) => [s, v.status, v.skipped]),
    ['ingest', 'construct', 'finetune', 'refine', 'encode', 'train', 'report'].map((s) => [s, 'completed', false]),
  );

  // The simulator's request log: a completed request (same request hash) is never sent again,
  // apart from the ones in flight at the kill (≤ the llm queue's concurrency).
  const log = readFileSync(join(stateDir, 'logs', 'sim-requests.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { hash: string; outcome: string });
  const okCount = new Map<string, number>();
  for (const e of log) if (e.outcome === 'ok') okCount.set(e.hash, (okCount.get(e.hash) ?? 0) + 1);
  const repeated = [...okCount.values()].filter((n) => n > 1).length;
  assert.ok(log.length > 50, 'the run made LLM calls');
  // The kill cut the LLM work short: most completed calls came from the rerun.
  assert.ok(okCount.size > 2 * okAtKill, `the kill landed after the LLM work (${okAtKill} of ${okCount.size} calls done before it)`);
  assert.ok(repeated <= 16, `${repeated} completed requests were sent again`);
});
