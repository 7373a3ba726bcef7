// A construction run whose llm worker (a real process, with the simulator inside) is SIGKILLed
// mid-run and restarted: the run finishes with every inference accounted for, and the simulator's request log
// (appended across both llm worker processes) shows no completed call repeated beyond those that
// were in flight at the kill (<= the llm queue's slots).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { SimLogEntry } from '../../core/sim';
import type { FanoutProgress } from '../../workflows/fanout';
import type { ConstructSummary } from '../../workflows/construct';
import type { DomainStageInput, StageResult } from '../../workflows/stage-types';
import { ingestSynthetic } from '../helpers/dataset';
import { spawnWorker, waitExit } from '../helpers/processes';
import { startTestTemporal, testConfig, withWorkers, type TestTemporal } from '../helpers/temporal';
import { readOutput } from './helpers';

let t: TestTemporal;
before(async () => {
  t = await startTestTemporal();
});
after(async () => {
  await t?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('construct survives SIGKILL of its llm worker mid-run; no completed teacher call is repeated', async () => {
  const data = (await ingestSynthetic(t.store, { users: 30, items: 60, seed: 5 })).ingest;
  const slots = 6;
  const base = testConfig({
    queues: { llm: { slots } },
    construct: { sampleFraction: 0.5, window: 32, heartbeatTimeoutSeconds: 3 },
    llm: { simulator: { model: 'sim-construct-kill', latencyMs: 400 } },
  });
  // Workflows run on an in-process cpu worker; the llm worker (and the simulator inside it) is a
  // real process that gets killed.
  await withWorkers(t, { queues: ['cpu'], config: base }, async ({ config }) => {
    const env = {
      R4EC__QUEUES__LLM__NAME: config.queues.llm.name,
      R4EC__QUEUES__LLM__SLOTS: String(slots),
      R4EC__LLM__SIMULATOR__MODEL: config.llm.simulator.model,
      R4EC__LLM__SIMULATOR__LATENCY_MS: String(config.llm.simulator.latencyMs),
    };
    const spawnLlm = () => spawnWorker({ queue: 'llm', address: t.address, stateDir: t.stateDir, env });
    let llm = spawnLlm();
    await llm.ready;
    const runId = `construct-kill-${Date.now().toString(36)}`;
    const input: DomainStageInput = { runId, config, artifacts: { ingest: data }, domain: 'user' };
    const handle = await t.client.workflow.start('constructDatasetWorkflow', { taskQueue: config.queues.cpu.name, workflowId: `${runId}/construct/user`, args: [input] });

    let before: FanoutProgress | undefined;
    for (let i = 0; i < 600; i++) {
      before = await handle.query<FanoutProgress>('progress').catch(() => undefined);
      if (before && before.done >= 4) break;
      await sleep(100);
    }
    assert.ok(before && before.done >= 4 && before.done < before.total, `killed mid-run (progress ${JSON.stringify(before)})`);
    llm.kill('SIGKILL');
    await waitExit(llm);

    llm = spawnLlm();
    try {
      await llm.ready;
      const result = (await handle.result()) as StageResult<ConstructSummary>;
      assert.equal(result.skipped, false);
      const files = await readOutput(t.store, result.artifact.key);
      assert.equal(files.manifest.length, before.total, 'every inference is in the manifest');
      assert.equal(new Set(files.manifest.map((m) => `${m.entityId}/${m.k}`)).size, before.total);
      assert.equal(Object.values(result.summary.outcomes).reduce((a, b) => a + b, 0), before.total);
      assert.equal(result.summary.outcomes.failed_transport, 0, 'killed calls were retried, not lost');

      // Calls in flight at the kill were retried by the new llm worker after the heartbeat timeout.
      let retried = 0;
      for (const m of files.manifest) {
        const h = await t.client.workflow.getHandle(m.workflowId).fetchHistory();
        retried += (h.events ?? []).filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1).length;
      }
      assert.ok(retried >= 1, 'some teacher call was in flight at the kill and retried');

      const log = readFileSync(join(t.stateDir, 'logs', 'sim-requests.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as SimLogEntry)
        .filter((e) => e.model === config.llm.simulator.model);
      const completed = new Map<string, number>();
      for (const e of log) if (e.outcome === 'ok') completed.set(e.hash, (completed.get(e.hash) ?? 0) + 1);
      const repeated = [...completed.values()].filter((n) => n > 1).length;
      assert.ok(completed.size > before.total, 'the log holds the run');
      assert.ok(repeated <= slots, `${repeated} completed calls repeated; at most the ${slots} in flight at the kill may be`);
      console.log(`[construct kill] ${completed.size} distinct completed calls, ${repeated} repeated, ${retried} retried activity attempts`);
    } finally {
      llm.kill('SIGTERM');
      await waitExit(llm);
    }
  });
});
