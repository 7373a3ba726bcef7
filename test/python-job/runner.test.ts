// The trainer-job runner against a stand-in trainer (fake-python.py: the lock, pid file, progress
// lines and SIGTERM handling of a real one, in milliseconds): the done line, heartbeats from the side
// timer while a step is slow, error / death / missing interpreter as coded failures with the last
// output, cancel through the process group, and re-attaching to a job that outlived its follower.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { JOB_FILES, PythonJobCancelled, PythonJobError, runPythonJob, type JobState } from '../../core/python-job';

const FAKE = join(__dirname, 'fake-python.py');
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function workDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'r4ec-pyjob-'));
  dirs.push(d);
  return join(d, 'job');
}

const spec = (dir: string, fake: Record<string, unknown>) => ({ workDir: dir, fake: { steps: 3, ...fake } });

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => assert.fail('expected a rejection'),
    (e: unknown) => e,
  );
}

test('a job runs to its done line; heartbeats come from the side timer while a step is slow', async () => {
  const dir = workDir();
  const events: string[] = [];
  const beats: JobState[] = [];
  const r = await runPythonJob({
    job: 'fake.train',
    workDir: dir,
    spec: spec(dir, { steps: 2, stepMs: 600, checkpointAt: 1 }),
    python: FAKE,
    pollMs: 50,
    heartbeatMs: 50,
    onEvent: (e) => events.push(e.event),
    onHeartbeat: (s) => beats.push({ ...s }),
  });
  assert.deepEqual(events, ['start', 'step', 'checkpoint', 'step', 'done']);
  assert.equal(r.done.value, 42);
  assert.deepEqual([r.state.step, r.state.totalSteps, r.state.launches, r.state.attached], [2, 2, 1, false]);
  assert.equal(r.state.checkpointStep, 1);
  // 1.2 s of steps, a heartbeat every 50 ms: many more beats than progress lines, several within one step.
  assert.ok(beats.length >= 10, `${beats.length} heartbeats`);
  assert.ok(beats.filter((b) => b.step === undefined || b.step === 0).length >= 3, 'heartbeats while the first step runs');
  const lines = readFileSync(join(dir, JOB_FILES.progress), 'utf8').trim().split('\n');
  assert.equal(lines.length, 5);
  assert.equal(JSON.parse(readFileSync(join(dir, JOB_FILES.spec), 'utf8')).workDir, dir);
});

test("the trainer's error line is a coded failure with its last output; a death without a line is TrainerExited", async () => {
  const dir = workDir();
  const err = await rejection(
    runPythonJob({ job: 'fake.train', workDir: dir, spec: spec(dir, { failAt: 2, failType: 'DataError', nonRetryable: true }), python: FAKE, pollMs: 20, errorCode: (t) => (t === 'DataError' ? 'BadDataset' : 'TrainerFailed') }),
  );
  assert.ok(err instanceof PythonJobError, String(err));
  assert.equal(err.code, 'BadDataset');
  assert.equal(err.retryable, false);
  assert.match(err.message, /^failed at step 2\n--- last trainer output ---/);
  assert.ok(err.lastLines.includes('Traceback: the fake failure'), err.lastLines.join('\n'));
  assert.deepEqual(err.details(), { lastLines: err.lastLines });

  const dir2 = workDir();
  const died = await rejection(runPythonJob({ job: 'fake.train', workDir: dir2, spec: spec(dir2, { dieAt: 2, checkpointAt: 1 }), python: FAKE, pollMs: 20 }));
  assert.ok(died instanceof PythonJobError);
  assert.equal(died.code, 'TrainerExited');
  assert.equal(died.retryable, true);
  assert.match(died.message, /was killed by SIGKILL without a final progress line; the next attempt resumes from its checkpoint .*ckpt-1/);
});

test('an interpreter that does not exist cannot start the job (non-retryable)', async () => {
  const dir = workDir();
  const err = await rejection(runPythonJob({ job: 'fake.train', workDir: dir, spec: spec(dir, {}), python: join(dir, 'no-python') }));
  assert.ok(err instanceof PythonJobError);
  assert.equal(err.code, 'TrainerNotStartable');
  assert.equal(err.retryable, false);
});

test('a cancel stops the trainer through its process group and waits for its last line', async () => {
  const dir = workDir();
  const ac = new AbortController();
  let pid: number | undefined;
  const err = await rejection(
    runPythonJob({
      job: 'fake.train',
      workDir: dir,
      spec: spec(dir, { steps: 50, stepMs: 100 }),
      python: FAKE,
      pollMs: 20,
      signal: ac.signal,
      onEvent: (e, s) => {
        pid = s.pid;
        if (e.event === 'step' && e.step === 2) ac.abort();
      },
    }),
  );
  assert.ok(err instanceof PythonJobCancelled, String(err));
  assert.equal(err.graceful, true);
  assert.ok(pid !== undefined);
  assert.throws(() => process.kill(pid!, 0), 'the trainer is gone');
  const last = JSON.parse(readFileSync(join(dir, JOB_FILES.progress), 'utf8').trim().split('\n').at(-1)!) as { event: string; step: number };
  assert.equal(last.event, 'stopped');
  assert.ok(last.step >= 2 && last.step < 50);
});

/** What a crashed worker leaves behind: its trainer, detached, writing to the job's files. */
function orphan(dir: string, s: Record<string, unknown>) {
  mkdirSync(dir, { recursive: true });
  const specPath = join(dir, JOB_FILES.spec);
  writeFileSync(specPath, JSON.stringify(s));
  const out = openSync(join(dir, JOB_FILES.progress), 'a');
  const child = spawn(FAKE, ['-m', 'trainer.fake.train', '--spec', specPath], { detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  return child;
}

async function waitForFile(path: string): Promise<void> {
  for (let i = 0; i < 200 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(existsSync(path), `${path} never appeared`);
}

const startsIn = (dir: string) => readFileSync(join(dir, JOB_FILES.progress), 'utf8').split('\n').filter((l) => l.includes('"event": "start"')).length;

test('a job that outlived its follower is found by its pid file and re-attached to, not started again', async () => {
  const dir = workDir();
  const s = spec(dir, { steps: 8, stepMs: 100 });
  const running = orphan(dir, s);
  await waitForFile(join(dir, JOB_FILES.pid));
  const r = await runPythonJob({ job: 'fake.train', workDir: dir, spec: s, python: FAKE, pollMs: 20 });
  assert.deepEqual([r.state.attached, r.state.launches, r.state.pid], [true, 0, running.pid]);
  assert.equal(r.done.steps, 8);
  assert.equal(startsIn(dir), 1, 'one trainer ran');
});

test('a start that finds the job locked (Busy) follows the trainer that holds it', async () => {
  const dir = workDir();
  // The other trainer holds the lock but has not written its pid file yet when we look.
  const s = spec(dir, { steps: 4, stepMs: 100, pidDelayMs: 400 });
  const running = orphan(dir, s);
  await waitForFile(join(dir, 'locked'));
  const r = await runPythonJob({ job: 'fake.train', workDir: dir, spec: s, python: FAKE, pollMs: 20 });
  assert.deepEqual([r.state.attached, r.state.pid], [true, running.pid]);
  // Each start of ours met the lock (how many depends on how fast python starts here), none trained.
  assert.ok(r.state.launches >= 1 && r.state.launches <= 3, String(r.state.launches));
  assert.equal(r.done.steps, 4);
  assert.equal(startsIn(dir), 1, 'the second trainer stopped at the lock');
  assert.match(readFileSync(join(dir, JOB_FILES.progress), 'utf8'), /"type": "Busy"/);
});
