// `r4ec serve-model` for real: the CLI process, the engine in the trainer venv, SmolLM2-135M-Instruct.
// One server for the whole file (a model load costs seconds on the shared CPU): 16 concurrent
// requests decoded in shared batches with exact usage, sampling parameters honoured, OpenAI-shaped
// errors, and SIGTERM / SIGKILL leaving no engine behind.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BASE_NAME, chat, enginePids, countTokens, pidAlive, post, renderChatML, serveModel, skipWithoutModel, waitFor, type ServeProcess } from './helpers';

const skip = skipWithoutModel();
let server: ServeProcess;
let enginePid: number;

before(async () => {
  if (skip) return;
  server = await serveModel(['--max-batch', '16']);
  const kids = enginePids(server.child.pid!);
  assert.equal(kids.length, 1, `one engine process under the CLI, found ${kids.join(',')}`);
  enginePid = kids[0]!;
});

after(() => {
  if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
});

const SYSTEM = { role: 'system', content: 'You are a concise assistant.' };
const TOPICS = ['apples', 'rivers', 'trains', 'owls', 'jazz', 'glaciers', 'chess', 'bread', 'comets', 'tulips', 'bees', 'lighthouses', 'violins', 'deserts', 'kites', 'coral'];

test('16 concurrent requests: every answer and its usage, decoded in shared batches', { skip }, async () => {
  const health0 = (await (await fetch(`${server.url}/health`)).json()) as { engine: { steps: number; requests: number } };
  const requests = TOPICS.map((topic, i) => {
    const messages = [SYSTEM, { role: 'user', content: `Write one sentence about ${topic}.` }];
    // Half are cut by max_tokens, half may stop on their own: both finish reasons get checked.
    return { messages, temperature: 0, max_tokens: i % 2 === 0 ? 12 : 40 };
  });
  const answers = await Promise.all(requests.map((r) => chat(server.url, r)));
  let completion = 0;
  for (const [i, a] of answers.entries()) {
    const r = requests[i]!;
    assert.equal(a.status, 200, a.text);
    assert.equal(a.json.object, 'chat.completion');
    assert.equal(a.json.model, BASE_NAME);
    const choice = a.json.choices[0];
    assert.equal(choice.message.role, 'assistant');
    assert.ok(typeof choice.message.content === 'string' && choice.message.content.trim().length > 0, `answer ${i} is empty`);
    assert.ok(!choice.message.content.includes('<|im_end|>'), 'special tokens are not returned');
    const u = a.json.usage;
    assert.equal(u.prompt_tokens, await countTokens(renderChatML(r.messages)), `answer ${i}: prompt tokens of the chat-templated prompt`);
    assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
    assert.ok(u.completion_tokens >= 1 && u.completion_tokens <= r.max_tokens);
    if (choice.finish_reason === 'length') assert.equal(u.completion_tokens, r.max_tokens, `answer ${i}`);
    else {
      assert.equal(choice.finish_reason, 'stop');
      // Ended on the end-of-turn token, which is counted but not returned.
      const retokenized = await countTokens(choice.message.content);
      assert.ok(Math.abs(retokenized + 1 - u.completion_tokens) <= 2, `answer ${i}: ${u.completion_tokens} tokens for "${choice.message.content}"`);
    }
    completion += u.completion_tokens;
  }
  assert.ok(answers.some((a) => a.json.choices[0].finish_reason === 'length'));
  const health = (await (await fetch(`${server.url}/health`)).json()) as { engine: { steps: number; requests: number; maxBatch: number } };
  assert.equal(health.engine.requests - health0.engine.requests, 16);
  // One decode step serves every running row: far fewer steps than tokens when requests share batches.
  const steps = health.engine.steps - health0.engine.steps;
  assert.ok(health.engine.maxBatch >= 8, `largest batch ${health.engine.maxBatch}`);
  assert.ok(steps < completion / 3, `${steps} decode steps for ${completion} generated tokens`);
});

test('seed, temperature, top_p, stop and max_tokens are honoured', { skip }, async () => {
  const messages = [SYSTEM, { role: 'user', content: 'Tell me a short story about a cat.' }];
  const sample = (seed: number) => chat(server.url, { messages, temperature: 1.0, top_p: 0.95, seed, max_tokens: 16 });
  const a = await sample(7);
  const b = await sample(7);
  const c = await sample(8);
  assert.equal(a.status, 200, a.text);
  assert.equal(a.json.choices[0].message.content, b.json.choices[0].message.content, 'same seed, same answer');
  const greedy = await chat(server.url, { messages, temperature: 0, max_tokens: 16 });
  const greedyAgain = await chat(server.url, { messages, temperature: 0, max_tokens: 16, seed: 99 });
  assert.equal(greedy.json.choices[0].message.content, greedyAgain.json.choices[0].message.content, 'temperature 0 is greedy whatever the seed');
  const texts = new Set([a, c, greedy].map((x) => x.json.choices[0].message.content));
  assert.ok(texts.size >= 2, 'a different seed or greedy decoding changes the sample');

  const capital = [SYSTEM, { role: 'user', content: 'What is the capital of France? Answer in one sentence.' }];
  const full = await chat(server.url, { messages: capital, temperature: 0, max_tokens: 30 });
  const text: string = full.json.choices[0].message.content;
  const word = text.split(/\s+/).find((w) => w.length > 3 && text.indexOf(w) > 0)!;
  const cut = await chat(server.url, { messages: capital, temperature: 0, max_tokens: 30, stop: [word] });
  assert.equal(cut.json.choices[0].finish_reason, 'stop');
  assert.equal(cut.json.choices[0].message.content, text.slice(0, text.indexOf(word)), `stop "${word}" cuts "${text}"`);
  const zero = await chat(server.url, { messages: capital, max_tokens: 1 });
  assert.equal(zero.json.usage.completion_tokens, 1);
  assert.equal(zero.json.choices[0].finish_reason, 'length');
});

test('errors are OpenAI-shaped: unknown model 404, bad adapter path 400 naming it, bad requests 400', { skip }, async () => {
  const unknown = await post(server.url, '/v1/chat/completions', { model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.error.type, 'NotFoundError');
  assert.match(unknown.json.error.message, /no-such-model/);

  const missing = await post(server.url, '/v1/load_lora_adapter', { lora_name: 'ghost', lora_path: '/nonexistent/adapter-dir' });
  assert.equal(missing.status, 400);
  assert.equal(missing.json.error.type, 'BadRequestError');
  assert.match(missing.json.error.message, /\/nonexistent\/adapter-dir/);
  const models = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: { id: string }[] };
  assert.deepEqual(models.data.map((m) => m.id), [BASE_NAME], 'a failed load registers nothing');

  const cases: [unknown, RegExp][] = [
    ['{not json', /not JSON/],
    [{ model: BASE_NAME, messages: [] }, /messages/],
    [{ model: BASE_NAME, messages: [{ role: 'robot', content: 'x' }] }, /messages\.0\.role/],
    [{ model: BASE_NAME, messages: [{ role: 'user', content: 'x' }], temperature: 3 }, /temperature/],
    [{ model: BASE_NAME, messages: [{ role: 'user', content: 'x' }], stream: true }, /streaming/],
    [{ model: BASE_NAME, messages: [{ role: 'user', content: 'x' }], max_tokens: 9000 }, /maximum context length is 8192/],
  ];
  for (const [body, message] of cases) {
    const r = await post(server.url, '/v1/chat/completions', body);
    assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.text}`);
    assert.match(r.json.error.message, message);
  }
  const gone = await post(server.url, '/v1/unload_lora_adapter', { lora_name: 'ghost' });
  assert.equal(gone.status, 404);
});

test('SIGTERM stops the server and its engine within seconds', { skip }, async () => {
  assert.ok(pidAlive(enginePid));
  const t0 = Date.now();
  server.child.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => server.child.once('exit', (c) => r(c)));
  assert.equal(code, 0, server.output());
  assert.ok(await waitFor(() => !pidAlive(enginePid), 5000), 'the engine process is gone');
  assert.ok(Date.now() - t0 < 8000, `stopped in ${Date.now() - t0} ms`);
});

test('a SIGKILLed serve-model takes its engine with it, even while the model loads', { skip }, async () => {
  const { spawn } = await import('node:child_process');
  const { join } = await import('node:path');
  const { REPO } = await import('./helpers');
  const child = spawn(process.execPath, [join(REPO, 'bin', 'r4ec.js'), 'serve-model', '--port', '0'], { cwd: REPO, stdio: 'ignore' });
  assert.ok(await waitFor(() => enginePids(child.pid!).length === 1, 20_000), 'the engine started');
  const engine = enginePids(child.pid!)[0]!;
  await new Promise((r) => setTimeout(r, 500)); // inside python, past its parent-death setup
  child.kill('SIGKILL');
  assert.ok(await waitFor(() => !pidAlive(engine), 5000), `engine ${engine} survived its parent`);
});
