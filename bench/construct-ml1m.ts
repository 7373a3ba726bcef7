// Construction over the shared MovieLens-1M half (users 1-2999) on a local dev server, both
// domains, with the simulator as the teacher injecting faults (default 5% malformed answers and 5%
// 429s). Prints the outcomes, calls, tokens and wall time per domain (a figure for the issue note,
// not a test). The data is read from ../shared/data (never committed).
//
//   npx tsx bench/construct-ml1m.ts [--malformed 0.05] [--rate-limited 0.05] [--retry-after 1]
//       [--fraction 0.4] [--window 64] [--llm-slots 16] [--json]
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { DatasetSchema } from '../config/schema';
import { ingest } from '../core/data';
import { workflowIds } from '../core/rules';
import type { ConstructSummary } from '../workflows/construct';
import type { DomainStageInput, StageResult } from '../workflows/stage-types';
import { sharedPath, skipWithoutShared } from '../test/helpers/data';
import { startTestTemporal, testConfig, withWorkers } from '../test/helpers/temporal';

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      malformed: { type: 'string', default: '0.05' },
      'rate-limited': { type: 'string', default: '0.05' },
      'retry-after': { type: 'string', default: '1' },
      fraction: { type: 'string', default: '0.4' },
      window: { type: 'string', default: '64' },
      'llm-slots': { type: 'string', default: '16' },
      json: { type: 'boolean', default: false },
    },
  });
  const missing = skipWithoutShared('ml-1m');
  if (missing) throw new Error(missing);
  const t = await startTestTemporal();
  try {
    const dir = sharedPath('ml-1m');
    const dataset = DatasetSchema.parse({ kind: 'ml-1m', path: dir, ratingsFile: 'ratings.users-1-2999.dat.gz' });
    const ing = await ingest({ store: t.store, dataset, dir });
    console.error(`[ml-1m] ingested ${ing.key}: ${JSON.stringify(ing.summary)}`);
    const config = testConfig({
      dataset: { kind: 'ml-1m', path: dir, ratingsFile: 'ratings.users-1-2999.dat.gz' },
      queues: { cpu: { slots: 64 }, llm: { slots: Number(a['llm-slots']) } },
      construct: { sampleFraction: Number(a.fraction), window: Number(a.window) },
      llm: { simulator: { model: 'sim-ml1m', malformedRate: Number(a.malformed), rateLimitRate: Number(a['rate-limited']), retryAfterSeconds: Number(a['retry-after']) } },
    });
    await withWorkers(t, { queues: ['cpu', 'llm'], config }, async ({ config }) => {
      const runId = `construct-ml1m-${Date.now()}`;
      const out: Record<string, unknown> = { ingest: ing.summary, faults: { malformed: Number(a.malformed), rateLimited: Number(a['rate-limited']), retryAfterSeconds: Number(a['retry-after']) } };
      const t0 = performance.now();
      // Both domains at once, as the pipeline runs them.
      const results = await Promise.all(
        (['user', 'item'] as const).map(async (domain) => {
          const input: DomainStageInput = { runId, config, artifacts: { ingest: { key: ing.key, contentHash: ing.contentHash } }, domain };
          const s0 = performance.now();
          const r = (await t.client.workflow.execute('constructDatasetWorkflow', { taskQueue: config.queues.cpu.name, workflowId: workflowIds.stage(runId, 'construct', domain), args: [input] })) as StageResult<ConstructSummary>;
          return { domain, seconds: (performance.now() - s0) / 1000, r };
        }),
      );
      for (const { domain, seconds, r } of results) {
        const n = Object.values(r.summary.outcomes).reduce((x, y) => x + y, 0);
        out[domain] = { key: r.artifact.key, sampled: r.summary.sampled, inferences: n, seconds: Number(seconds.toFixed(1)), outcomes: r.summary.outcomes, records: r.summary.records, llm: r.summary.llm };
      }
      out.seconds = Number(((performance.now() - t0) / 1000).toFixed(1));
      console.log(a.json ? JSON.stringify(out) : JSON.stringify(out, null, 2));
    });
  } finally {
    await t.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
