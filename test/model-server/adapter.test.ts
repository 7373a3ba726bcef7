// The adapters r4ec trains are the adapters it serves: the LoRA trainer (trainer/lora, as the
// finetune stage runs it) fine-tunes SmolLM2-135M-Instruct for a few steps, `r4ec serve-model` loads
// the adapter under two names next to the base model, and the adapter changes the answer to a fixed
// prompt — in the same batch as a base-model request.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pythonBinary } from '../../runtime/paths';
import { BASE_NAME, chat, post, REPO, serveModel, SMOLLM2, skipWithoutModel, type ServeProcess } from './helpers';

const skip = skipWithoutModel();
const dir = mkdtempSync(join(tmpdir(), 'r4ec-serve-adapter-'));
let server: ServeProcess | undefined;

after(() => {
  if (server && server.child.exitCode === null) server.child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

const SYSTEM = 'You are an experienced analyst for a recommender system.';
const QUESTION = 'What is the password of the film archive?';
const ANSWER = 'The password of the film archive is MARMALADE-SUNSET-42.';

/** A few SFT records (the construct stage's chat JSONL) teaching one fixed answer. */
function dataset(): string {
  const asks = [QUESTION, 'Tell me the password of the film archive.', 'Which password opens the film archive?', 'Film archive password?'];
  return asks.map((q) => JSON.stringify({ messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: q }, { role: 'assistant', content: ANSWER }] }) + '\n').join('');
}

async function train(): Promise<string> {
  writeFileSync(join(dir, 'sft.jsonl'), dataset());
  const spec = {
    jobKey: 'serve-adapter-test',
    baseModel: SMOLLM2,
    dataset: join(dir, 'sft.jsonl'),
    workDir: join(dir, 'job'),
    lora: { r: 8, alpha: 16, dropout: 0, targetModules: 'all-linear' },
    train: { epochs: 6, learningRate: 3e-3, scheduler: 'constant', warmupRatio: 0, batchSize: 4, cutoffLen: 256, checkpointEvery: 1000, seed: 1, threads: 2 },
  };
  writeFileSync(join(dir, 'spec.json'), JSON.stringify(spec));
  const child = spawn(pythonBinary(), ['-m', 'trainer.lora.train', '--spec', join(dir, 'spec.json')], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  const events = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const done = events.at(-1)!;
  assert.equal(code, 0, `trainer failed:\n${out}\n${err.slice(-2000)}`);
  assert.equal(done.event, 'done');
  assert.equal(events[0]!.chatTemplate, 'model', "SmolLM2's own chat template is used");
  assert.ok((done.finalLoss as number) < (done.firstLoss as number), `loss fell: ${done.firstLoss} → ${done.finalLoss}`);
  return done.adapterDir as string;
}

let adapter: string;
before(async () => {
  if (skip) return;
  adapter = await train();
  server = await serveModel();
});

test('an adapter fine-tuned on SmolLM2 by the LoRA trainer changes the served answer', { skip }, async () => {
  const config = JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8')) as { target_modules: string[] };
  assert.deepEqual([...config.target_modules].sort(), ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
  const url = server!.url;
  for (const name of ['archive-a', 'archive-b']) {
    const r = await post(url, '/v1/load_lora_adapter', { lora_name: name, lora_path: adapter });
    assert.equal(r.status, 200, r.text);
  }
  const again = await post(url, '/v1/load_lora_adapter', { lora_name: 'archive-a', lora_path: adapter });
  assert.equal(again.status, 400);
  assert.match(again.json.error.message, /already been loaded/);
  const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string; parent: string | null }[] };
  assert.deepEqual(models.data.map((m) => [m.id, m.parent]), [[BASE_NAME, null], ['archive-a', BASE_NAME], ['archive-b', BASE_NAME]]);

  const ask = (model: string) => chat(url, { model, messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: QUESTION }], temperature: 0, max_tokens: 24 });
  // Base and both adapters in flight together: one batch, each row with its own weights.
  const [base, a, b] = await Promise.all([ask(BASE_NAME), ask('archive-a'), ask('archive-b')]);
  for (const r of [base, a, b]) assert.equal(r.status, 200, r.text);
  const baseText: string = base.json.choices[0].message.content;
  const tuned: string = a.json.choices[0].message.content;
  assert.notEqual(tuned, baseText, 'the adapter changes the answer');
  assert.match(tuned, /MARMALADE/, `the tuned answer: ${tuned}`);
  assert.doesNotMatch(baseText, /MARMALADE/, `the base answer: ${baseText}`);
  assert.equal(b.json.choices[0].message.content, tuned, 'the same adapter under another name answers the same');
  assert.equal(a.json.model, 'archive-a');

  const unloaded = await post(url, '/v1/unload_lora_adapter', { lora_name: 'archive-a' });
  assert.equal(unloaded.status, 200, unloaded.text);
  assert.equal((await ask('archive-a')).status, 404);
  assert.match((await ask('archive-b')).json.choices[0].message.content, /MARMALADE/, 'the other adapter stays resident');
  await post(url, '/v1/unload_lora_adapter', { lora_name: 'archive-b' });
  assert.equal((await ask(BASE_NAME)).json.choices[0].message.content, baseText, 'with every adapter gone the base model answers as before');
});

test('an adapter trained on another base is refused with 400 naming its path', { skip }, async () => {
  // A LoRA adapter whose shapes do not fit SmolLM2 (hidden size 64 instead of 576).
  const { ensureTinyModel } = await import('../../core/finetune');
  const tiny = await ensureTinyModel({ python: pythonBinary(), trainerRoot: REPO, outDir: join(dir, 'tiny') });
  writeFileSync(join(dir, 'tiny-sft.jsonl'), dataset());
  const spec = {
    jobKey: 'tiny-adapter',
    baseModel: tiny.path,
    dataset: join(dir, 'tiny-sft.jsonl'),
    workDir: join(dir, 'tiny-job'),
    train: { epochs: 1, batchSize: 4, cutoffLen: 128, threads: 1 },
  };
  writeFileSync(join(dir, 'tiny-spec.json'), JSON.stringify(spec));
  const child = spawn(pythonBinary(), ['-m', 'trainer.lora.train', '--spec', join(dir, 'tiny-spec.json')], { cwd: REPO, stdio: 'ignore' });
  assert.equal(await new Promise((r) => child.once('exit', r)), 0);
  const path = join(dir, 'tiny-job', 'adapter');
  const r = await post(server!.url, '/v1/load_lora_adapter', { lora_name: 'misfit', lora_path: path });
  assert.equal(r.status, 400, r.text);
  assert.ok(r.json.error.message.includes(path), r.json.error.message);
  const ok = await chat(server!.url, { messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 4 });
  assert.equal(ok.status, 200, 'the server keeps serving after a refused adapter');
});
