// The simulator's Files and Batch APIs, driven by the `openai` package as a real client would:
// OpenAI's shapes and status sequence, the same faults per line as the synchronous route, an
// expiring batch with partial results, cancel, limits, listing, and batches that survive a restart.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import OpenAI, { BadRequestError, NotFoundError, toFile } from 'openai';
import type { Batch } from 'openai/resources/batches';
import { requestHash } from '../../core/llm/cache';
import { buildPrompt } from '../../core/prompts/builders';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../core/sim/server';
import { ALL_KINDS, CATALOG, specFor } from './fixtures';

const dirs: string[] = [];
const sims: RunningSimulator[] = [];
after(async () => {
  await Promise.all(sims.map((s) => s.close()));
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'r4ec-simbatch-'));
  dirs.push(d);
  return d;
}
async function sim(opts: Partial<SimulatorOptions> = {}): Promise<{ s: RunningSimulator; api: OpenAI }> {
  const s = await startSimulator({ catalog: CATALOG, models: ['r4ec-sim'], seed: 5, ...opts });
  sims.push(s);
  return { s, api: new OpenAI({ baseURL: `${s.url}/v1`, apiKey: opts.apiKey ?? 'unused', maxRetries: 0 }) };
}

/** One chat body per (prompt kind, seed): 24 kinds × `seeds`. */
function bodies(seeds = 1) {
  const out = [];
  for (let seed = 0; seed < seeds; seed++) for (const k of ALL_KINDS) out.push({ model: 'r4ec-sim', messages: buildPrompt(specFor(k)), seed, temperature: 0.7, top_p: 1, max_tokens: 512 });
  return out;
}
const hashOf = (b: ReturnType<typeof bodies>[number]) => requestHash(b.model, b.messages, { temperature: b.temperature, topP: b.top_p, maxTokens: b.max_tokens, seed: b.seed });
const jsonl = (bs: ReturnType<typeof bodies>) => bs.map((b) => JSON.stringify({ custom_id: hashOf(b), method: 'POST', url: '/v1/chat/completions', body: b })).join('\n') + '\n';

async function submit(api: OpenAI, text: string, metadata: Record<string, string> = {}): Promise<Batch> {
  const file = await api.files.create({ file: await toFile(Buffer.from(text), 'input.jsonl'), purpose: 'batch' });
  return api.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata });
}

async function waitFor(api: OpenAI, id: string, seen: string[] = []): Promise<Batch> {
  for (let i = 0; i < 1000; i++) {
    const b = await api.batches.retrieve(id);
    if (seen.at(-1) !== b.status) seen.push(b.status);
    if (['completed', 'expired', 'cancelled', 'failed'].includes(b.status)) return b;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`batch ${id} did not finish`);
}

interface OutLine {
  id: string;
  custom_id: string;
  response: { status_code: number; request_id: string; body: { choices?: { message: { content: string } }[]; error?: { message: string; code: unknown } } } | null;
  error: { code: string; message: string } | null;
}
async function lines(api: OpenAI, fileId: string | null | undefined): Promise<OutLine[]> {
  if (!fileId) return [];
  const text = await (await api.files.content(fileId)).text();
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as OutLine);
}

test('a batch in OpenAI shapes: validating → in_progress → finalizing → completed, output and error lines, counts, usage, the request log', async () => {
  const { s, api } = await sim({ faults: { malformedRate: 0.15, rateLimitRate: 0.1, serverErrorRate: 0.05 }, batch: { validatingMs: 80, completionDelayMs: 250, finalizingMs: 80 } });
  const bs = bodies(2);
  const file = await api.files.create({ file: await toFile(Buffer.from(jsonl(bs)), 'input.jsonl'), purpose: 'batch' });
  assert.equal(file.object, 'file');
  assert.equal(file.purpose, 'batch');
  assert.equal(file.bytes, Buffer.byteLength(jsonl(bs)));
  assert.deepEqual(await api.files.retrieve(file.id), file);
  assert.equal(await (await api.files.content(file.id)).text(), jsonl(bs));

  const created = await api.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { r4ec_run: 'run-1', r4ec_round: '1' } });
  assert.equal(created.object, 'batch');
  assert.equal(created.status, 'validating');
  assert.equal(created.expires_at, created.created_at + 24 * 3600);
  assert.deepEqual(created.metadata, { r4ec_run: 'run-1', r4ec_round: '1' });
  const seen: string[] = ['validating'];
  const done = await waitFor(api, created.id, seen);
  assert.deepEqual(seen, ['validating', 'in_progress', 'finalizing', 'completed']);
  assert.ok(done.in_progress_at && done.finalizing_at && done.completed_at && done.completed_at >= done.created_at);
  assert.equal(done.model, 'r4ec-sim');

  const out = await lines(api, done.output_file_id);
  const err = await lines(api, done.error_file_id);
  assert.deepEqual(done.request_counts, { total: bs.length, completed: out.length, failed: err.length });
  assert.equal(out.length + err.length, bs.length);
  assert.deepEqual(new Set([...out, ...err].map((l) => l.custom_id)), new Set(bs.map(hashOf)), 'every request answered exactly once');
  for (const l of [...out, ...err]) {
    assert.deepEqual(Object.keys(l).sort(), ['custom_id', 'error', 'id', 'response']);
    assert.match(l.id, /^batch_req_/);
    assert.equal(l.error, null);
    assert.deepEqual(Object.keys(l.response!).sort(), ['body', 'request_id', 'status_code']);
  }
  assert.ok(out.every((l) => l.response!.status_code === 200 && typeof l.response!.body.choices![0]!.message.content === 'string'));
  assert.ok(err.length > 0 && err.every((l) => [429, 500].includes(l.response!.status_code) && typeof l.response!.body.error!.message === 'string'));
  assert.equal((await api.files.retrieve(done.output_file_id!)).purpose, 'batch_output');
  assert.ok(done.usage!.input_tokens > 0 && done.usage!.output_tokens > 0 && done.usage!.total_tokens === done.usage!.input_tokens + done.usage!.output_tokens);

  // The log: each line as a request of path /v1/batches with its ids; each API call with its path; no synchronous request.
  const lineLog = s.requestLog.filter((e) => e.batchId === done.id);
  assert.equal(lineLog.length, bs.length);
  assert.ok(lineLog.every((e) => e.path === '/v1/batches' && e.customId === e.hash && e.occurrence === 1));
  assert.equal(lineLog.filter((e) => e.outcome === 'malformed').length > 0, true);
  assert.deepEqual(
    s.requestLog.filter((e) => e.outcome === 'api').map((e) => `${e.method} ${e.path.replace(/(file|batch)_?-?r4ecsim\w+/g, '$1')}`).slice(0, 4),
    ['POST /v1/files', 'GET /v1/files/file', 'GET /v1/files/file/content', 'POST /v1/batches'],
  );
  assert.equal(s.requestLog.filter((e) => e.path === '/v1/chat/completions').length, 0);
  assert.equal(s.stats().requests, bs.length, 'API calls are not counted as model requests');
});

test('a batch line draws the same fault and answer as the same synchronous request', async () => {
  const faults = { malformedRate: 0.2, rateLimitRate: 0.1, serverErrorRate: 0.1, sloppyRate: 0.2, latencyJitterMs: 1 };
  const { s: syncSim } = await sim({ faults });
  const { api } = await sim({ faults });
  const bs = bodies(2);
  const sync = new Map<string, { status: number; content: string | undefined }>();
  for (const b of bs) {
    const r = await fetch(`${syncSim.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) });
    const j = (await r.json()) as { choices?: { message: { content: string } }[] };
    sync.set(hashOf(b), { status: r.status, content: j.choices?.[0]?.message.content });
  }
  const done = await waitFor(api, (await submit(api, jsonl(bs))).id);
  const all = [...(await lines(api, done.output_file_id)), ...(await lines(api, done.error_file_id))];
  assert.equal(all.length, bs.length);
  const statuses = new Set<number>();
  for (const l of all) {
    const want = sync.get(l.custom_id)!;
    statuses.add(want.status);
    assert.equal(l.response!.status_code, want.status, l.custom_id);
    assert.equal(l.response!.body.choices?.[0]?.message.content, want.content, l.custom_id);
  }
  assert.deepEqual([...statuses].sort(), [200, 429, 500], 'the comparison covered answers and both error kinds');
});

test('the n-th batch expires with partial results; the others complete', async () => {
  const { api } = await sim({ batch: { expireBatches: [2], completionDelayMs: 50 } });
  const bs = bodies(1);
  const [b1, b2, b3] = [await submit(api, jsonl(bs)), await submit(api, jsonl(bs.slice(0, 21))), await submit(api, jsonl(bs.slice(0, 10)))];
  const d1 = await waitFor(api, b1.id);
  const seen: string[] = [];
  const d2 = await waitFor(api, b2.id, seen);
  const d3 = await waitFor(api, b3.id);
  assert.equal(d1.status, 'completed');
  assert.equal(d3.status, 'completed');
  assert.equal(d2.status, 'expired');
  assert.ok(!seen.includes('finalizing') && d2.expired_at && !d2.completed_at);
  const out = await lines(api, d2.output_file_id);
  const err = await lines(api, d2.error_file_id);
  assert.equal(out.length, 10, 'floor(21 × 0.5) lines answered before expiry');
  assert.equal(err.length, 11);
  for (const l of err) {
    assert.equal(l.response, null);
    assert.deepEqual(l.error, { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' });
  }
  assert.deepEqual(d2.request_counts, { total: 21, completed: 10, failed: 11 });
});

test('cancel: cancelling → cancelled, unrun lines are batch_cancelled; a finished batch cannot be cancelled', async () => {
  const { api } = await sim({ batch: { validatingMs: 5000 } });
  const b = await submit(api, jsonl(bodies(1).slice(0, 5)));
  const c = await api.batches.cancel(b.id);
  assert.equal(c.status, 'cancelling');
  assert.ok(c.cancelling_at);
  const d = await waitFor(api, b.id);
  assert.equal(d.status, 'cancelled');
  assert.ok(d.cancelled_at);
  assert.equal(d.output_file_id, null);
  const err = await lines(api, d.error_file_id);
  assert.equal(err.length, 5);
  assert.ok(err.every((l) => l.error?.code === 'batch_cancelled' && l.response === null));
  assert.equal((await api.batches.cancel(b.id)).status, 'cancelled', 'cancelling twice is harmless');

  const { api: fast } = await sim();
  const done = await waitFor(fast, (await submit(fast, jsonl(bodies(1).slice(0, 2)))).id);
  await assert.rejects(fast.batches.cancel(done.id), (e: unknown) => e instanceof BadRequestError && /Cannot cancel a batch with status 'completed'/.test(e.message));
});

test('limits and bad input: OpenAI-shaped 400s, 404s, and a batch that fails validation names its lines', async () => {
  const { api } = await sim({ batch: { maxRequestsPerFile: 4, maxFileBytes: 30_000 } });
  const bs = bodies(1);
  await assert.rejects(submit(api, jsonl(bs.slice(0, 5))), (e: unknown) => {
    assert.ok(e instanceof BadRequestError);
    assert.equal(e.status, 400);
    assert.equal(e.code, 'too_many_requests');
    assert.match(e.message, /5 requests; a batch may contain at most 4/);
    return true;
  });
  await assert.rejects(api.files.create({ file: await toFile(Buffer.alloc(40_000, 'x'), 'big.jsonl'), purpose: 'batch' }), (e: unknown) => e instanceof BadRequestError && e.code === 'file_too_large');
  const file = await api.files.create({ file: await toFile(Buffer.from(jsonl(bs.slice(0, 1))), 'ok.jsonl'), purpose: 'batch' });
  // The package's types allow only '24h'; the server must still say no to anything else.
  await assert.rejects(api.post('/batches', { body: { input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '1h' } }), (e: unknown) => e instanceof BadRequestError && /completion_window/.test(e.message));
  await assert.rejects(api.batches.create({ input_file_id: 'file-nope', endpoint: '/v1/chat/completions', completion_window: '24h' }), (e: unknown) => e instanceof NotFoundError);
  await assert.rejects(api.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' }), BadRequestError);
  await assert.rejects(api.batches.retrieve('batch_nope'), NotFoundError);
  await assert.rejects(api.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { k: 'v'.repeat(513) } }), BadRequestError);

  const good = JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: bs[0] });
  const bad = [good, '{not json', good, JSON.stringify({ custom_id: 'b', method: 'POST', url: '/v1/chat/completions', body: { ...bs[1], model: 'other' } })].join('\n');
  const failed = await waitFor(api, (await submit(api, bad)).id);
  assert.equal(failed.status, 'failed');
  assert.ok(failed.failed_at);
  assert.deepEqual(
    failed.errors!.data!.map((e) => [e.code, e.line]),
    [
      ['invalid_json_line', 2],
      ['duplicate_custom_id', 3],
      ['mismatched_model', 4],
    ],
  );
});

test('listing pages newest first, so a client can find its batches by metadata; the API key guards the batch routes', async () => {
  const { api } = await sim({ apiKey: 'sk-sim-test' });
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await submit(api, jsonl(bodies(1).slice(i, i + 1)), { n: String(i) })).id);
  const first = await api.batches.list({ limit: 2 });
  assert.equal(first.data.length, 2);
  assert.equal(first.has_more, true);
  const all: Batch[] = [];
  for await (const b of api.batches.list({ limit: 2 })) all.push(b);
  assert.deepEqual(all.map((b) => b.id), [...ids].reverse());
  assert.deepEqual(all.map((b) => b.metadata?.n), ['4', '3', '2', '1', '0']);
  const wrong = new OpenAI({ baseURL: api.baseURL, apiKey: 'sk-wrong', maxRetries: 0 });
  await assert.rejects(wrong.batches.list(), (e: unknown) => (e as { status?: number }).status === 401);
});

test('batches and files survive a restart of the simulator; creation ordinals continue', async () => {
  const dir = tmp();
  const opts = { batch: { dir, completionDelayMs: 400, expireBatches: [2] } };
  const { s, api } = await sim(opts);
  const b1 = await submit(api, jsonl(bodies(1).slice(0, 6)), { r4ec_run: 'persist' });
  await s.close();
  const { api: api2 } = await sim(opts);
  const again = await api2.batches.retrieve(b1.id);
  assert.deepEqual(again.metadata, { r4ec_run: 'persist' });
  assert.ok(['validating', 'in_progress'].includes(again.status), again.status);
  const d1 = await waitFor(api2, b1.id);
  assert.equal(d1.status, 'completed');
  assert.equal((await lines(api2, d1.output_file_id)).length, 6);
  const b2 = await submit(api2, jsonl(bodies(1).slice(0, 4)));
  assert.equal((await waitFor(api2, b2.id)).status, 'expired', 'the second batch overall, counted across the restart');
  const { api: api3 } = await sim(opts);
  const listed: string[] = [];
  for await (const b of api3.batches.list()) listed.push(b.id);
  assert.deepEqual(listed, [b2.id, b1.id]);
  assert.equal((await lines(api3, (await api3.batches.retrieve(b1.id)).output_file_id)).length, 6);
});

test('`r4ec sim-llm` keeps its batches in the state dir: after a SIGKILL, the restarted simulator finishes them', async () => {
  const { spawn } = await import('node:child_process');
  const { writeFileSync } = await import('node:fs');
  const root = join(__dirname, '..', '..');
  const state = tmp();
  const catalog = join(state, 'catalog.json');
  writeFileSync(catalog, JSON.stringify(CATALOG));
  const start = async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'cli', 'main.ts'), 'sim-llm', '--port', '0', '--catalog', catalog, '--model', 'r4ec-sim', '--batch-delay-ms', '1500'], {
      cwd: root,
      env: { ...process.env, R4EC_STATE_DIR: state },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      let err = '';
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /at (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(err);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`sim-llm exited (${code}):\n${err}`)));
    });
    return { child, api: new OpenAI({ baseURL: url, apiKey: 'unused', maxRetries: 0 }) };
  };
  const first = await start();
  let second: Awaited<ReturnType<typeof start>> | undefined;
  try {
    const b = await submit(first.api, jsonl(bodies(1).slice(0, 4)), { r4ec_run: 'killed' });
    assert.ok(['validating', 'in_progress'].includes((await first.api.batches.retrieve(b.id)).status));
    const exited = new Promise((r) => first.child.once('exit', r));
    first.child.kill('SIGKILL');
    await exited;
    second = await start();
    const all: Batch[] = [];
    for await (const x of second.api.batches.list()) all.push(x);
    assert.deepEqual(all.map((x) => [x.id, x.metadata?.r4ec_run]), [[b.id, 'killed']]);
    const done = await waitFor(second.api, b.id);
    assert.equal(done.status, 'completed');
    assert.equal((await lines(second.api, done.output_file_id)).length, 4);
  } finally {
    first.child.kill('SIGKILL');
    second?.child.kill('SIGTERM');
  }
});
