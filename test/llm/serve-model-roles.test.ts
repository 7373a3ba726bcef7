// Roles answered by the local model server (llm.serveModel.roles): the config rule, who answers each
// role, the endpoint the llm worker's registry hands out, timeouts, cost, refine's stage key, the
// names the run summary and report carry.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { R4ecConfigSchema } from '../../config/schema';
import { priceRows, LOCAL_MODEL_LABEL } from '../../core/estimate';
import { LlmRegistry } from '../../core/llm/registry';
import { roleModelNames } from '../../core/llm/role-models';
import { refineStageKey } from '../../core/refine/plan';
import { requestTimeoutMs, roleSource } from '../../core/rules';
import { ConfigError, loadConfig } from '../../runtime/config';
import { reportInput } from '../../workflows/report-input';
import { emptySummary, recordFinetune, recordLlm, recordModels } from '../../workflows/run-summary';

const dir = mkdtempSync(join(tmpdir(), 'r4ec-serve-roles-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A model directory with the served name scripts/convert-gguf-model.py records. */
function modelDir(name: string): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  return d;
}

test('a role with an endpoint cannot also be listed in llm.serveModel.roles', () => {
  const p = join(dir, 'both.yaml');
  writeFileSync(p, 'llm:\n  actor: { baseUrl: "http://127.0.0.1:9/v1", model: m }\n  serveModel: { roles: [actor] }\n');
  assert.throws(
    () => loadConfig({ path: p, env: {} }),
    (e: unknown) => e instanceof ConfigError && e.problems.some((l) => /^llm\.actor: .*llm\.serveModel\.roles/.test(l)),
  );
  const teacher = join(dir, 'teacher.yaml');
  writeFileSync(teacher, 'llm:\n  serveModel: { roles: [teacher] }\n');
  assert.throws(() => loadConfig({ path: teacher, env: {} }), (e: unknown) => e instanceof ConfigError && e.problems.some((l) => l.startsWith('llm.serveModel.roles.0')));
});

test('each role is answered by its endpoint, the model server, or the simulator; the registry and timeouts follow', () => {
  const config = R4ecConfigSchema.parse({ llm: { teacher: { baseUrl: 'http://127.0.0.1:9/v1', model: 'gpt-4o' }, serveModel: { roles: ['actor'], timeoutMs: 1234, maxTokens: 99 } } });
  assert.deepEqual(['teacher', 'actor', 'reflection'].map((r) => roleSource(config.llm, r as 'teacher')), ['endpoint', 'serve-model', 'simulator']);
  assert.equal(requestTimeoutMs(config.llm, 'actor'), 1234);
  const registry = new LlmRegistry({ llm: config.llm, stateDir: dir, env: {}, simulatorUrl: 'http://127.0.0.1:7', modelServer: { url: 'http://127.0.0.1:8', model: 'Base-1' } });
  assert.equal(registry.usesSimulator('actor'), false);
  assert.equal(registry.usesSimulator('reflection'), true);
  const e = registry.endpointFor('actor');
  assert.deepEqual([e.baseUrl, e.model, e.maxTokens, e.timeoutMs], ['http://127.0.0.1:8/v1', 'Base-1', 99, 1234]);
  assert.equal(registry.endpointFor('reflection').baseUrl, 'http://127.0.0.1:7/v1');
  const none = new LlmRegistry({ llm: config.llm, stateDir: dir, env: {} });
  assert.throws(() => none.endpointFor('actor'), /served by the local model server .* none running/);
  // The model server costs nothing and is named as such in the estimate.
  const rows = priceRows(config, [{ stage: 'refine', role: 'actor', calls: 10, promptTokens: 1000, completionTokens: 100 } as never]);
  assert.deepEqual([rows[0]!.model, rows[0]!.simulator, rows[0]!.usdSync], [LOCAL_MODEL_LABEL, false, 0]);
});

test("refine's stage key changes when a role moves from the simulator to the model server, and with its sampling", () => {
  const ingest = { key: 'ingest/x', contentHash: 'h' };
  const sim = R4ecConfigSchema.parse({});
  const served = R4ecConfigSchema.parse({ llm: { serveModel: { roles: ['actor', 'reflection'] } } });
  const hotter = R4ecConfigSchema.parse({ llm: { serveModel: { roles: ['actor', 'reflection'], temperature: 1 } } });
  const keys = [sim, served, hotter].map((c) => refineStageKey(c, 'user', ingest, undefined));
  assert.equal(new Set(keys).size, 3);
  const porty = R4ecConfigSchema.parse({ llm: { serveModel: { roles: ['actor', 'reflection'], port: 9999, threads: 1 } } });
  assert.equal(refineStageKey(porty, 'user', ingest, undefined), keys[1], 'port and threads do not change the answers');
});

test('the run summary names each role’s model and the adapters refine asks, after the usage fields', () => {
  const base = modelDir('smol');
  writeFileSync(join(base, 'r4ec-model.json'), JSON.stringify({ name: 'SmolLM2-135M-Instruct' }));
  const config = R4ecConfigSchema.parse({ finetune: { baseModel: base }, llm: { serveModel: { roles: ['actor', 'reflection'] } } });
  const names = roleModelNames(config);
  assert.deepEqual(names, { teacher: 'r4ec-sim (simulator)', actor: 'SmolLM2-135M-Instruct', reflection: 'SmolLM2-135M-Instruct' });
  const s = emptySummary('run-1', 'cfg');
  recordModels(s, names);
  recordLlm(s, 'construct', { calls: 2, cacheHits: 0, promptTokens: 20, completionTokens: 4 });
  const adapter = (job: string) => ({ servedName: `r4ec-${job}-abc`, jobKey: `k-${job}`, records: 3 });
  recordFinetune(s, {
    artifact: { key: 'finetune/a', contentHash: 'h' },
    skipped: false,
    summary: { backend: 'local', baseModel: base, adapters: { 'user-actor': adapter('user-actor'), 'item-actor': adapter('item-actor') } },
  });
  recordLlm(s, 'refine', { calls: 1, cacheHits: 1, promptTokens: 10, completionTokens: 5 });
  assert.equal(
    JSON.stringify(s.llm),
    '{"calls":3,"cacheHits":1,"promptTokens":30,"completionTokens":9,"models":{"teacher":"r4ec-sim (simulator)","actor":"SmolLM2-135M-Instruct","reflection":"SmolLM2-135M-Instruct","user-actor":"r4ec-user-actor-abc","item-actor":"r4ec-item-actor-abc"}}',
  );
  // A finetune stage that trained nothing leaves the names as they were; so does a summary from before `models`.
  recordFinetune(s, { artifact: { key: 'finetune/b', contentHash: 'h' }, skipped: false, summary: { backend: 'none', baseModel: null, adapters: {} } });
  assert.equal(Object.keys(s.llm.models!).length, 5);
  const old = emptySummary('run-2', 'cfg');
  recordModels(old, undefined);
  recordLlm(old, 'construct', { calls: 1, cacheHits: 0, promptTokens: 1, completionTokens: 1 });
  assert.equal(JSON.stringify(old.llm), '{"calls":1,"cacheHits":0,"promptTokens":1,"completionTokens":1}');
  // The report still says the simulator taught (the teacher), and carries the names.
  const input = reportInput(config, { ...s, construct: { outcomes: {} } });
  assert.equal(input.simulator, true);
  assert.equal(input.llm.models?.['user-actor'], 'r4ec-user-actor-abc');
  const allServed = reportInput(R4ecConfigSchema.parse({ llm: { teacher: { baseUrl: 'http://127.0.0.1:9/v1', model: 'gpt-4o' }, serveModel: { roles: ['actor', 'reflection'] } } }), { ...s, construct: { outcomes: {} } });
  assert.equal(allServed.simulator, false, 'no role left to the simulator');
});
