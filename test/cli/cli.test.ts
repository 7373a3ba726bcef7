import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { r4ec as run, type CliResult } from '../helpers/cli';
import { smallPipelineConfig } from '../helpers/pipeline';
import { startTestTemporal, testConfig, withWorkers, type TestTemporal } from '../helpers/temporal';

const work = mkdtempSync(join(tmpdir(), 'r4ec-cli-'));

const r4ec = (args: string[], env: Record<string, string> = {}, timeoutMs = 120_000): Promise<CliResult> => run(args, { cwd: work, env: { R4EC_STATE_DIR: join(work, 'state'), ...env }, timeoutMs });

let t: TestTemporal;
before(async () => {
  t = await startTestTemporal();
});
after(async () => {
  await t?.close();
  rmSync(work, { recursive: true, force: true });
});

test('help on every command; unknown commands and flags exit 2 with a suggestion', async () => {
  const top = await r4ec(['--help']);
  assert.equal(top.code, 0);
  for (const c of ['up', 'worker', 'run', 'status', 'cancel', 'schedule create', 'data synth', 'codec-server']) assert.ok(top.stdout.includes(`  ${c}`), c);
  const help = await r4ec(['schedule', 'create', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--cron/);
  const unknown = await r4ec(['frobnicate']);
  assert.equal(unknown.code, 2);
  const badFlag = await r4ec(['run', '--stage', 'x']);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /suggestion: see `r4ec run --help`/);
  const badStage = await r4ec(['run', '--until', 'trian']);
  assert.equal(badStage.code, 2);
  assert.match(badStage.stderr, /unknown stage "trian"/);
});

test('a bad config exits 2 listing every problem as path: message', async () => {
  const cfg = join(work, 'bad.yaml');
  writeFileSync(cfg, 'dataset:\n  kind: nope\ntrain:\n  features: everything\n');
  const r = await r4ec(['run', '--config', cfg]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /dataset\.kind: /);
  assert.match(r.stderr, /train\.features: /);
  assert.match(r.stderr, /suggestion: /);
});

test('data synth writes the data set it is asked for, byte-identical for a seed, different for another', async () => {
  const synth = async (dir: string, seed: string) => {
    const r = await r4ec(['data', 'synth', '--out', join(work, dir), '--seed', seed, '--users', '40', '--items', '60']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { outDir: string; users: number; items: number };
  };
  const a = await synth('sa', '7');
  const b = await synth('sb', '7');
  const c = await synth('sc', '8');
  assert.deepEqual([a.outDir, a.users, a.items], [join(work, 'sa'), 40, 60]);
  const bytes = (dir: string, f: string) => readFileSync(join(dir, f));
  for (const f of ['movies.dat', 'users.dat', 'ratings.dat']) {
    assert.ok(bytes(a.outDir, f).equals(bytes(b.outDir, f)), `${f} differs for the same seed`);
    if (f !== 'users.dat') assert.ok(!bytes(a.outDir, f).equals(bytes(c.outDir, f)), `${f} equal for another seed`);
  }
  assert.equal(bytes(a.outDir, 'users.dat').toString().trim().split('\n').length, 40);
  const bad = await r4ec(['data', 'synth', '--out', join(work, 'sd'), '--users', '0']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--users: expected a positive integer, got "0"/);
});

test('run --only ingest --json against a configured server prints the ingest block; status reads it back', async () => {
  await withWorkers(t, { queues: ['cpu'] }, async ({ config }) => {
    const env = { R4EC__TEMPORAL__ADDRESS: t.address, R4EC__QUEUES__CPU__NAME: config.queues.cpu.name, R4EC_STATE_DIR: t.stateDir };
    const r = await r4ec(['run', '--only', 'ingest', '--json', '--run-id', 'cli-ingest'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr.split('\n')[0]!, /^Temporal Web UI: /);
    const summary = JSON.parse(r.stdout) as { runId: string; stages: Record<string, { status: string }>; ingest: Record<string, number> };
    assert.equal(summary.runId, 'cli-ingest');
    assert.equal(summary.stages.ingest?.status, 'completed');
    assert.equal(summary.ingest.users, 300);
    assert.ok(summary.ingest.train! > 0 && summary.ingest.trainPositive! < summary.ingest.train!);
    const again = await r4ec(['run', '--only', 'ingest', '--json', '--run-id', 'cli-ingest'], env);
    assert.equal((JSON.parse(again.stdout) as { stages: Record<string, { status: string; skipped: boolean }> }).stages.ingest?.status, 'skipped');
    const st = await r4ec(['status', '--run', 'cli-ingest', '--json'], env);
    assert.equal(st.code, 0, st.stderr);
    assert.equal((JSON.parse(st.stdout) as { state: string }).state, 'COMPLETED');
  });
});

test('a schedule created from the CLI fires (trigger) and its run finishes with the full summary; pause, list and delete work', async () => {
  // A tiny whole-DAG config whose queues are this test's workers.
  const raw = await smallPipelineConfig(work, { name: 'weekly', train: { backbones: ['deepfm'], variants: ['base', 'r4ec'], epochs: 1, seeds: [1] } }, { users: 20, items: 60, seed: 2 });
  await withWorkers(t, { config: testConfig(raw) }, async ({ config }) => {
    const env = { R4EC__TEMPORAL__ADDRESS: t.address };
    const cfg = join(work, 'sched.json');
    writeFileSync(cfg, JSON.stringify({ ...raw, queues: { cpu: { name: config.queues.cpu.name }, llm: { name: config.queues.llm.name }, gpu: { name: config.queues.gpu.name } } }));
    const created = await r4ec(['schedule', 'create', '--cron', '0 3 * * 0', '--config', cfg], env);
    assert.equal(created.code, 0, created.stderr);
    const trig = await r4ec(['schedule', 'trigger', '--id', 'r4ec-weekly'], env);
    assert.equal(trig.code, 0, trig.stderr);
    let runId: string | undefined;
    for (let i = 0; i < 100 && !runId; i++) {
      for await (const w of t.client.workflow.list({ query: `WorkflowType="r4ecPipelineWorkflow"` })) if (w.workflowId.startsWith('r4ec-weekly-')) runId = w.workflowId;
      if (!runId) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(runId, 'the schedule started a run');
    assert.match(runId, /^r4ec-weekly-\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/, 'named <schedule id>-<fire time>');

    // The scheduled run is a whole pipeline run: it finishes, and its summary is the CLI contract's.
    const summary = (await t.client.workflow.getHandle(runId).result()) as {
      runId: string;
      stages: Record<string, { status: string; skipped: boolean }>;
      ingest: Record<string, number>;
      construct: { outcomes: Record<string, Record<string, number>> };
      refine: { outcomes: Record<string, Record<string, number>> };
      train: { features: string; floor: { auc: number; logloss: number }; results: Record<string, Record<string, { auc: number; logloss: number }>> };
      llm: { calls: number; promptTokens: number };
    };
    assert.equal(summary.runId, runId);
    assert.deepEqual(Object.entries(summary.stages).map(([s, v]) => [s, v.status]), ['ingest', 'construct', 'finetune', 'refine', 'encode', 'train', 'report'].map((s) => [s, 'completed']));
    assert.equal(summary.ingest.users, 20);
    assert.ok(summary.ingest.trainPositive! > 0 && summary.ingest.trainPositive! < summary.ingest.train!);
    for (const stage of ['construct', 'refine'] as const) {
      for (const d of ['user', 'item']) assert.ok(Object.values(summary[stage].outcomes[d] ?? {}).reduce((a, b) => a + b, 0) > 0, `${stage} ${d}: ${JSON.stringify(summary[stage].outcomes)}`);
    }
    assert.equal(Object.values(summary.refine.outcomes.user!).reduce((a, b) => a + b, 0), 20, 'every user refined');
    assert.equal(summary.train.features, 'paper');
    assert.deepEqual(Object.keys(summary.train.results), ['deepfm']);
    assert.deepEqual(Object.keys(summary.train.results.deepfm!).sort(), ['base', 'r4ec']);
    for (const m of [summary.train.floor, ...Object.values(summary.train.results.deepfm!)]) assert.ok(m.auc > 0 && m.auc < 1 && m.logloss > 0, JSON.stringify(m));
    assert.ok(summary.llm.calls > 0 && summary.llm.promptTokens > 0);

    assert.equal((await r4ec(['schedule', 'pause', '--id', 'r4ec-weekly'], env)).code, 0);
    const list = await r4ec(['schedule', 'list', '--json'], env);
    const row = list.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; paused: boolean; recentActions: number }).find((s) => s.id === 'r4ec-weekly');
    assert.deepEqual([row?.paused, row?.recentActions], [true, 1]);
    assert.equal((await r4ec(['schedule', 'delete', '--id', 'r4ec-weekly'], env)).code, 0);
    const missing = await r4ec(['schedule', 'trigger', '--id', 'r4ec-weekly'], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no schedule "r4ec-weekly"/);
  });
});

test('run --dry-run estimates entities, calls, tokens and money per stage and role, and starts nothing', async () => {
  // The teacher is a priced model (nothing is called); actor and reflection are the simulator.
  const cfg = join(work, 'dry-run.yaml');
  writeFileSync(cfg, 'llm:\n  teacher: { baseUrl: "https://api.openai.com/v1", model: gpt-4o-2024-08-06, apiKeyEnv: NOT_SET_ANYWHERE, batch: { enabled: true } }\n');
  const r = await r4ec(['run', '--dry-run', '--json', '--config', cfg], { R4EC__TEMPORAL__ADDRESS: '127.0.0.1:1' });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    dryRun: boolean;
    ingest: { users: number };
    estimate: Array<{ stage: string; domain: string; role: string; entities: number; callsMin: number; callsMax: number; promptTokens: number; completionTokens: number; simulator: boolean; usdSync: number | null; usdBatch: number | null }>;
    money: { total: { sync: number; teacherBatch: number; planned: number }; byStageRole: Record<string, { usdSync: number; usdBatch: number | null }> };
  };
  for (const e of out.estimate) {
    if (e.role !== 'teacher') assert.deepEqual([e.simulator, e.usdSync, e.usdBatch], [true, 0, null], JSON.stringify(e));
    // gpt-4o: $2.50 in, $10 out per million tokens; the batch path (construct and refine's kar) half of it.
    else {
      assert.ok(Math.abs(e.usdSync! - (e.promptTokens * 2.5 + e.completionTokens * 10) / 1e6) < 1e-9, JSON.stringify(e));
      assert.ok(Math.abs(e.usdBatch! * 2 - e.usdSync!) < 1e-9, JSON.stringify(e));
    }
  }
  const teacherSync = out.estimate.filter((e) => e.role === 'teacher').reduce((a, e) => a + e.usdSync!, 0);
  assert.ok(out.estimate.some((e) => e.stage === 'refine' && e.role === 'teacher' && e.usdSync! > 0), 'kar is priced');
  assert.ok(out.money.total.sync > 0 && Math.abs(out.money.total.sync - out.money.total.teacherBatch - teacherSync / 2) < 1e-9);
  assert.equal(out.money.total.planned, out.money.total.teacherBatch, 'batch is enabled for the teacher');
  assert.ok(out.money.byStageRole['construct/teacher']!.usdSync > 0);
  assert.equal(out.dryRun, true);
  const cu = out.estimate.find((e) => e.stage === 'construct' && e.domain === 'user')!;
  assert.equal(cu.entities, Math.ceil(out.ingest.users * 0.4) * 2, '40% of users, two inferences each');
  assert.equal(cu.callsMin, 2 * cu.entities);
  for (const e of out.estimate) {
    assert.ok(e.callsMax >= e.callsMin && e.promptTokens > 0, JSON.stringify(e));
  }
  assert.deepEqual([...new Set(out.estimate.map((e) => e.role))].sort(), ['actor', 'reflection', 'teacher']);
});
