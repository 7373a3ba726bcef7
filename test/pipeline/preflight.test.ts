// `r4ec run` with broken LLM roles: an unset API key variable, an endpoint nobody listens on, and a
// key the endpoint refuses. The run fails before any inference (the endpoint's request log has no
// chat request, construct committed nothing) with one line per problem in the run summary's error.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { startSimulator, type RunningSimulator } from '../../core/sim';
import { openStore } from '../../core/store';
import type { RunSummary } from '../../workflows/run-summary';
import { freePort } from '../helpers/cluster';
import { smallPipelineConfig } from '../helpers/pipeline';

const root = resolve(__dirname, '..', '..');
const stateDir = mkdtempSync(join(tmpdir(), 'r4ec-preflight-'));
let sim: RunningSimulator | undefined;
after(async () => {
  await sim?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

test('r4ec run: unset key, unreachable endpoint, refused key → the run fails before any inference, one line per problem', async () => {
  sim = await startSimulator({ catalog: [], models: ['gpt-4o-mini'], apiKey: 'sk-the-right-key-0001' });
  const closed = await freePort();
  const cfg = await smallPipelineConfig(stateDir, {
    temporal: { devServer: { port: await freePort(), uiPort: await freePort() } },
    llm: {
      teacher: { baseUrl: `${sim.url}/v1`, model: 'gpt-4o-mini', apiKeyEnv: 'R4EC_TEST_TEACHER_KEY' },
      actor: { baseUrl: `http://127.0.0.1:${closed}/v1`, model: 'actor-model' },
      reflection: { baseUrl: `${sim.url}/v1`, model: 'gpt-4o-mini', apiKeyEnv: 'R4EC_TEST_REFLECTION_KEY' },
    },
  });
  const cfgPath = join(stateDir, 'cfg.json');
  writeFileSync(cfgPath, JSON.stringify(cfg));
  const env: NodeJS.ProcessEnv = { ...process.env, R4EC_STATE_DIR: stateDir, R4EC_TEST_REFLECTION_KEY: 'sk-a-wrong-key-9999' };
  delete env.R4EC_TEST_TEACHER_KEY;
  const child = spawn(process.execPath, [resolve(root, 'bin', 'r4ec.js'), 'run', '--config', cfgPath, '--json'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));

  assert.equal(code, 1, `a failed run exits non-zero\n${stdout}\n${stderr}`);
  const summary = JSON.parse(stdout.split('\n').find((l) => l.startsWith('{"runId"'))!) as RunSummary;
  assert.equal(summary.stages.ingest?.status, 'completed');
  assert.equal(summary.stages.construct?.status, 'failed');
  const error = summary.error ?? '';
  assert.match(error, /LLM preflight: 3 problems before any inference was sent:/);
  const lines = error.split('\n').filter((l) => /^ {2}llm\.(teacher|actor|reflection) /.test(l));
  assert.equal(lines.length, 3, error);
  assert.match(lines[0]!, /llm\.teacher .*R4EC_TEST_TEACHER_KEY \(llm\.teacher\.apiKeyEnv\) is not set/);
  assert.match(lines[1]!, new RegExp(`llm\\.actor \\(http://127\\.0\\.0\\.1:${closed}/v1, model actor-model\\): cannot reach the endpoint`));
  assert.match(lines[2]!, /llm\.reflection .*refused the API key \(401\): check the key in R4EC_TEST_REFLECTION_KEY/);
  assert.ok(!stdout.includes('sk-a-wrong-key') && !stderr.includes('sk-a-wrong-key'), 'the key is never printed');
  assert.equal(sim.requestLog.filter((e) => e.path.includes('/chat/')).length, 0, 'no inference was sent');
  assert.deepEqual(await openStore({ kind: 'local' }, stateDir).list('construct/'), [], 'construct committed nothing');
});
