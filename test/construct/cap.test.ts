// The run-level call cap (`llm.cap`) on construct's synchronous path, in both execution modes: the
// inference workflows (`entityWorkflows: all`) and the workflows that redo a batch's failed
// inferences book and charge against it as batches do, so the requests the teacher answers stay
// within the cap plus the calls of the inferences in flight (each books Algorithm 1's two calls and
// may use one more: the refine call; no re-asks here), and the rest are skipped_call_cap.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ENTITY_WORKFLOWS } from '../../config/schema';
import type { ConstructSummary } from '../../workflows/construct';
import type { DomainStageInput, StageResult } from '../../workflows/stage-types';
import { ingestSynthetic, type Artifact } from '../helpers/dataset';
import { simulatorFor } from '../helpers/simulator';
import { startTestTemporal, testConfig, withWorkers, type TestTemporal } from '../helpers/temporal';

let t: TestTemporal;
let data: Artifact;
before(async () => {
  t = await startTestTemporal();
  data = (await ingestSynthetic(t.store, { users: 30, items: 60, seed: 11 })).ingest;
});
after(async () => {
  await t?.close();
});

const MAX_CALLS = 16;
// Inferences in flight at once: the workflow window, and the units of the one batch in flight.
const WINDOW = 4;

for (const mode of ENTITY_WORKFLOWS) {
  test(`construct [entityWorkflows: ${mode}] with llm.cap.maxCalls ${MAX_CALLS}: the inference workflows respect the cap`, async () => {
    const config = testConfig({
      construct: { sampleFraction: 0.5, window: WINDOW, entityWorkflows: mode, batchSize: WINDOW, batchWindow: 1, failureLimit: 1 },
      // Many malformed answers and no re-ask: in batch mode many inferences fail and run again as workflows.
      llm: { formatRetries: 0, transport: { maxAttempts: 1 }, simulator: { model: `sim-construct-cap-${mode}`, malformedRate: 0.4 }, cap: { maxCalls: MAX_CALLS } },
      queues: { llm: { slots: 4 } },
    });
    const s = await simulatorFor(t.store, data.key, config, `${t.stateDir}/cap-${mode}`);
    try {
      const result = await withWorkers(t, { queues: ['cpu', 'llm'], config, deps: { llm: s.registry } as object }, async ({ config }) => {
        const runId = `construct-cap-${mode}-${Date.now()}`;
        const input: DomainStageInput = { runId, config, artifacts: { ingest: data }, domain: 'user' };
        return t.client.workflow.execute<(i: DomainStageInput) => Promise<StageResult<ConstructSummary>>>('constructDatasetWorkflow', { taskQueue: config.queues.cpu.name, workflowId: `${runId}/construct/user`, args: [input] });
      });
      const requests = s.sim.requestLog.filter((e) => e.path === '/v1/chat/completions').length;
      const { outcomes, sampled } = result.summary;
      assert.equal(Object.values(outcomes).reduce((a, b) => a + b, 0), sampled * 2, 'every inference recorded');
      assert.ok(sampled * 2 * 2 > MAX_CALLS + 2 * WINDOW, 'the run would need far more calls than the cap');
      assert.ok(outcomes.skipped_call_cap > 0, `inferences skipped at the cap (${JSON.stringify(outcomes)})`);
      // Two windows of inferences in flight in batch mode (the last batch, then the failed ones' workflows).
      const bound = MAX_CALLS + (mode === 'failed' ? 2 : 1) * WINDOW;
      assert.ok(requests <= bound, `${requests} requests with a cap of ${MAX_CALLS} (bound ${bound})`);
      assert.ok(requests >= MAX_CALLS - 2, `the cap was used (${requests} requests)`);
    } finally {
      await s.close();
    }
  });
}
