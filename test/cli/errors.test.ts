// Known errors reach the terminal and the --json summary as code + message + where + suggestion,
// never "[unexpected]" with a stack: a data error found by ingest, a bad config, and a codec key that
// is not the one an interrupted run was written with (detected, named, no retry loop).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { makeFixture, ratingLines } from '../data/fixtures';
import { cli, eventually, freePort, processesMentioning, reap, run, tempDir } from './procs';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) {
    reap(d);
    rmSync(d, { recursive: true, force: true });
  }
});

async function stateEnv(prefix: string, extra: Record<string, string> = {}): Promise<{ dir: string; env: Record<string, string> }> {
  const dir = tempDir(prefix);
  dirs.push(dir);
  return { dir, env: { R4EC_STATE_DIR: dir, R4EC__TEMPORAL__DEV_SERVER__PORT: String(await freePort()), R4EC__TEMPORAL__DEV_SERVER__UI_PORT: String(await freePort()), ...extra } };
}

const nothingLeft = (dir: string, ms = 8000) =>
  eventually(() => processesMentioning(dir).length === 0, ms, () => `still running for ${dir}:\n${processesMentioning(dir).map((p) => `${p.pid} ${p.cmd}`).join('\n')}`);

interface Failure {
  code: string;
  message: string;
  stage?: string;
  file?: string;
  line?: number;
  field?: string;
  related?: Array<{ file: string; line: number; role: string }>;
  problems?: string[];
  suggestion?: string;
}

test('a data error found by ingest reaches the terminal and --json with file, line, field and suggestion', async () => {
  const lines = ratingLines();
  const fx = makeFixture({ ratings: [...lines, lines[9]!] });
  dirs.push(fx.root);
  const { dir, env } = await stateEnv('r4ec-err-data-', { R4EC__DATASET__KIND: 'ml-1m', R4EC__DATASET__PATH: fx.dir });
  const r = await run(['run', '--only', 'ingest', '--json'], env, 120_000);
  assert.equal(r.code, 1, r.stderr);
  const ratings = join(fx.dir, 'ratings.dat');
  const where = `${ratings}:${lines.length + 1}`;
  assert.doesNotMatch(r.stderr + r.stdout, /Activity task failed|\[unexpected\]/);
  assert.match(r.stderr, new RegExp(`error \\[DataError\\]: ${where}: field "`));
  assert.match(r.stderr, new RegExp(`first seen at: ${ratings}:10`));
  assert.match(r.stderr, /suggestion: /);
  const summary = JSON.parse(r.stdout) as { error: string; failure: Failure; stages: Record<string, { status: string }> };
  assert.equal(summary.stages.ingest?.status, 'failed');
  assert.ok(summary.error.startsWith(`ingest: ${where}`), summary.error);
  assert.equal(summary.failure.code, 'DataError');
  assert.equal(summary.failure.stage, 'ingest');
  assert.equal(summary.failure.file, ratings);
  assert.equal(summary.failure.line, lines.length + 1);
  assert.equal(typeof summary.failure.field, 'string');
  assert.deepEqual(summary.failure.related?.map((x) => x.line), [10]);
  assert.ok(summary.failure.suggestion && !summary.failure.message.includes('suggestion:'), JSON.stringify(summary.failure));
  await nothingLeft(dir);
});

test('a bad config with --json: the summary shape with the failure block on stdout, exit 2', async () => {
  const { dir, env } = await stateEnv('r4ec-err-cfg-');
  const cfg = join(dir, 'bad.yaml');
  writeFileSync(cfg, 'dataset:\n  kind: nope\ntrian: {}\n');
  const r = await run(['run', '--config', cfg, '--json'], env, 60_000);
  assert.equal(r.code, 2, r.stderr);
  const out = JSON.parse(r.stdout) as { runId: string | null; stages: object; error: string; failure: Failure };
  assert.equal(out.runId, null);
  assert.deepEqual(out.stages, {});
  assert.equal(out.failure.code, 'config_invalid');
  assert.ok(out.failure.problems?.some((p) => p.startsWith('dataset.kind: ')));
  assert.ok(out.failure.problems?.some((p) => p.includes('"trian" (did you mean "train"?)')));
  assert.ok(out.failure.suggestion);
});

test('a wrong codec key on an interrupted run is named as such, without a retry loop; status prints the message', async () => {
  const k1 = randomBytes(32).toString('base64');
  const k2 = randomBytes(32).toString('base64');
  const { dir, env } = await stateEnv('r4ec-err-key-', { R4EC__CODEC__ENABLED: 'true', R4EC__CONSTRUCT__SAMPLE_FRACTION: '0.02' });
  const args = ['run', '--until', 'construct', '--run-id', 'keyed'];

  const first = cli(args, { ...env, R4EC_CODEC_KEY: k1, R4EC__LLM__SIMULATOR__LATENCY_MS: '1500' });
  await first.waitFor(/▸ construct/, 90_000);
  first.child.kill('SIGINT');
  assert.equal((await first.exited).code, 130, first.err());

  const wrong = await run(args, { ...env, R4EC_CODEC_KEY: k2 }, 90_000);
  assert.equal(wrong.code, 1, wrong.stderr);
  assert.match(wrong.stderr, /error \[codec_key_mismatch\]: the run's payloads cannot be decrypted with \$R4EC_CODEC_KEY \(key id [0-9a-f]{16}\): it is not the key they were written with/);
  assert.match(wrong.stderr, /suggestion: set R4EC_CODEC_KEY to the key the run was started with/);
  assert.doesNotMatch(wrong.stderr, /\[unexpected\]|Unsupported state.*\n.*Unsupported state/);
  await nothingLeft(dir);

  // The right key finishes it (workers of `up`); `status` with the wrong key says why it cannot read it.
  const up = cli(['up'], { ...env, R4EC_CODEC_KEY: k1 });
  try {
    await up.waitFor(/Ctrl-C stops everything/, 90_000);
    await eventually(
      async () => {
        const st = await run(['status', '--run', 'keyed', '--json'], { ...env, R4EC_CODEC_KEY: k1 }, 60_000);
        return st.code === 0 && (JSON.parse(st.stdout) as { state: string }).state === 'COMPLETED';
      },
      120_000,
      () => `run keyed did not complete:\n${up.err()}`,
    );
    const st = await run(['status', '--run', 'keyed'], { ...env, R4EC_CODEC_KEY: k2 }, 60_000);
    assert.equal(st.code, 1, st.stderr);
    assert.match(st.stderr, /error \[codec_key_mismatch\]: the run's payloads cannot be decrypted with \$R4EC_CODEC_KEY/);
    assert.doesNotMatch(st.stderr, /\[unexpected\]|\n\s+at /);
  } finally {
    up.child.kill('SIGINT');
    await up.exited;
  }
  await nothingLeft(dir);
});
