// construct.failureLimit on a real dev server: a teacher endpoint that fails a third of its chat
// requests (a real HTTP gateway in front of the simulator) makes the stage fail with the failure
// counts and commit nothing; once the endpoint is fixed, the same stage runs again, redoes only the
// failed inferences (their completed calls come from the cache) and commits.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { startSimulator, type RunningSimulator } from '../../core/sim';
import { StageOutput } from '../../core/store';
import type { ConstructSummary } from '../../workflows/construct';
import type { DomainStageInput, StageResult } from '../../workflows/stage-types';
import { startTestTemporal, testConfig, withWorkers, type TestTemporal } from '../helpers/temporal';
import { ingestSynthetic } from '../helpers/dataset';

let t: TestTemporal;
let sim: RunningSimulator | undefined;
let gateway: Server | undefined;
before(async () => {
  t = await startTestTemporal();
});
after(async () => {
  gateway?.close();
  await sim?.close();
  await t?.close();
});

/** Forwards to the simulator; while `broken`, answers 503 to every chat request whose body hashes to 0 mod 3. */
function startGateway(target: URL, state: { broken: boolean }): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (state.broken && req.url?.includes('/chat/') && createHash('sha256').update(body).digest().readUInt8(0) % 3 === 0) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'upstream unavailable (test gateway)', type: 'server_error', code: null, param: null } }));
        return;
      }
      const fwd = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      fwd.on('error', () => res.destroy());
      fwd.end(body);
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1` })));
}

test('construct over construct.failureLimit commits nothing, names the failures; the fixed rerun redoes only the failed inferences', async () => {
  const data = (await ingestSynthetic(t.store, { users: 30, items: 60, seed: 12 })).ingest;
  sim = await startSimulator({ catalog: await t.store.localPath(`${data.key}/meta.json`), models: ['teacher-model'], logPath: `${t.stateDir}/sim-gateway.jsonl` });
  const state = { broken: true };
  const g = await startGateway(new URL(sim.url), state);
  gateway = g.server;
  const config = testConfig({
    construct: { sampleFraction: 0.5, window: 8 },
    llm: { teacher: { baseUrl: g.url, model: 'teacher-model' }, transport: { maxAttempts: 1 } },
  });
  await withWorkers(t, { queues: ['cpu', 'llm'], config }, async ({ config }) => {
    const runId = `construct-limit-${Date.now().toString(36)}`;
    const input: DomainStageInput = { runId, config, artifacts: { ingest: data }, domain: 'user' };
    const start = (n: number) => t.client.workflow.execute('constructDatasetWorkflow', { taskQueue: config.queues.cpu.name, workflowId: `${runId}/construct/user/${n}`, args: [input] });

    const err = await start(1).then(
      () => assert.fail('the stage committed although a third of the teacher calls failed'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError);
    let cause: unknown = err.cause;
    while (cause && (cause as { cause?: unknown }).cause) cause = (cause as { cause?: unknown }).cause;
    const message = (cause as Error).message;
    const m = /construct \(user\): (\d+) of (\d+) inferences failed \(\d+(?:\.\d)? %\), above construct\.failureLimit \(20 %\); nothing was committed/.exec(message);
    assert.ok(m, message);
    assert.match(message, /\n {2}\d+× failed_transport: (reason|reflect|refine): LlmTransportError: LLM endpoint http:\/\/127\.0\.0\.1:\d+\/v1 \(model teacher-model\) answered 503/);
    const failed = Number(m[1]);
    const units = Number(m[2]);
    assert.ok(failed > 0.2 * units && failed < units, `${failed} of ${units}`);
    assert.equal((await t.store.list('construct/')).length, 0, 'nothing under the final key');

    const okBefore = new Set(sim!.requestLog.filter((e) => e.outcome === 'ok').map((e) => e.hash));
    const sentBefore = sim!.requestLog.length;
    state.broken = false;
    const done = (await start(2)) as StageResult<ConstructSummary>;
    assert.equal(done.skipped, false);
    assert.equal(done.summary.outcomes.failed_transport, 0);
    assert.equal(Object.values(done.summary.outcomes).reduce((a, b) => a + b, 0), units);
    assert.ok(await new StageOutput(t.store, done.artifact.key).isComplete());

    const again = sim!.requestLog.slice(sentBefore).filter((e) => e.path.includes('/chat/'));
    assert.ok(again.length > 0);
    assert.deepEqual(again.filter((e) => okBefore.has(e.hash)).map((e) => e.hash), [], 'no call that had completed was sent again');
    const children = [];
    for await (const wf of t.client.workflow.list({ query: `R4ecRunId = "${runId}" AND WorkflowType = "constructInferenceWorkflow"` })) children.push(wf);
    assert.equal(children.length, units + failed, 'the rerun started a workflow for each failed inference only');
  });
});
