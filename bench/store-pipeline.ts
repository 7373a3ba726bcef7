// The whole pipeline's wall time with the local store and with the S3 store (versitygw on loopback),
// in one bench run: `r4ec run` on the same config in a fresh state dir each time, as one process
// (its own dev server and workers). Prints seconds per run and per stage, and the S3 overhead.
//
//   npx tsx bench/store-pipeline.ts [--config examples/quickstart-sim.yaml] [--rounds 1] [--baseline-cli DIR/bin/r4ec.js] [--json]
//
// `--baseline-cli` adds a run of another checkout's CLI with the local store (e.g. the commit before a
// change), so "does the quick start slow down" is answered in the same run. Runs alternate per round
// (baseline, local, s3) so a change of machine load hits them alike; the load is printed with each.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startTestS3 } from '../test/helpers/s3';
import { runEnv, runPipeline, stageSeconds, type PipelineRun } from './pipeline-run';

interface RunResult {
  name: string;
  round: number;
  wallSeconds: number;
  stages: Record<string, number>;
  llmCalls: number;
  load: number[];
}

async function runOnce(name: string, round: number, cli: string, config: string, extraEnv: Record<string, string>): Promise<RunResult> {
  const stateDir = mkdtempSync(join(tmpdir(), `r4ec-bench-pipeline-${name}-`));
  const env = await runEnv(stateDir, extraEnv);
  const load = loadavg().map((l) => +l.toFixed(2));
  let run: PipelineRun;
  try {
    run = await runPipeline({ cli, config, cwd: resolve(dirname(cli), '..'), env, label: name });
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
  const r = { name, round, wallSeconds: +run.wallSeconds.toFixed(1), stages: stageSeconds(run.summary), llmCalls: run.summary.llm.calls, load };
  console.error(`[bench] ${JSON.stringify(r)}`);
  return r;
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      config: { type: 'string', default: 'examples/quickstart-sim.yaml' },
      rounds: { type: 'string', default: '1' },
      'baseline-cli': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const root = resolve(__dirname, '..');
  const cli = join(root, 'bin', 'r4ec.js');
  const config = resolve(a.config!);
  const rounds = Math.max(1, Number(a.rounds));
  const work = mkdtempSync(join(tmpdir(), 'r4ec-bench-pipeline-s3-'));
  const s3 = await startTestS3({ dir: join(work, 's3') });
  const results: RunResult[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      if (a['baseline-cli']) results.push(await runOnce('baseline-local', round, resolve(a['baseline-cli']), config, {}));
      results.push(await runOnce('local', round, cli, config, {}));
      const bucket = `bench-${round}`;
      await s3.createBucket(bucket);
      results.push(
        await runOnce('s3', round, cli, config, {
          ...s3.env,
          R4EC__STORE__KIND: 's3',
          R4EC__STORE__BUCKET: bucket,
          R4EC__STORE__ENDPOINT: s3.endpoint,
          R4EC__STORE__REGION: s3.region,
        }),
      );
    }
  } finally {
    await s3.stop();
    rmSync(work, { recursive: true, force: true });
  }
  const mean = (name: string) => {
    const xs = results.filter((r) => r.name === name).map((r) => r.wallSeconds);
    return xs.length ? xs.reduce((x, y) => x + y, 0) / xs.length : undefined;
  };
  const local = mean('local')!;
  const s3Mean = mean('s3')!;
  const baseline = mean('baseline-local');
  const out = {
    bench: 'store-pipeline',
    config: a.config,
    s3Server: 'versitygw (posix backend, loopback)',
    rounds,
    runs: results,
    meanWallSeconds: { ...(baseline !== undefined ? { 'baseline-local': +baseline.toFixed(1) } : {}), local: +local.toFixed(1), s3: +s3Mean.toFixed(1) },
    s3OverheadPercent: +((100 * (s3Mean - local)) / local).toFixed(1),
    ...(baseline !== undefined ? { localVsBaselinePercent: +((100 * (local - baseline)) / baseline).toFixed(1) } : {}),
    loadavgEnd: loadavg().map((l) => +l.toFixed(2)),
  };
  if (a.json) {
    console.log(JSON.stringify(out));
    return;
  }
  console.log(`\npipeline wall time by store (${a.config}, ${rounds} round(s))`);
  for (const r of results) console.log(`  ${r.name.padEnd(15)} round ${r.round}: ${String(r.wallSeconds).padStart(7)} s  load at start ${r.load.join(' ')}  stages ${JSON.stringify(r.stages)}`);
  console.log(`  mean: ${JSON.stringify(out.meanWallSeconds)}`);
  console.log(`  S3 store vs local store: ${out.s3OverheadPercent >= 0 ? '+' : ''}${out.s3OverheadPercent} %`);
  if (out.localVsBaselinePercent !== undefined) console.log(`  local store, this checkout vs baseline: ${out.localVsBaselinePercent >= 0 ? '+' : ''}${out.localVsBaselinePercent} %`);
  console.log(`  load at the end ${out.loadavgEnd.join(' ')}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
