// The shipped example configs load as the CLI loads them, and the quick start is the real-model one:
// SmolLM2 as the LoRA base, actor and reflection served with the adapters, the simulator teaching.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../runtime/config';

const DIR = resolve(__dirname, '..', '..', 'examples');

test('every example config loads', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.includes('quickstart.yaml') && files.includes('quickstart-sim.yaml'), `examples: ${files.join(', ')}`);
  for (const f of files) assert.doesNotThrow(() => loadConfig({ path: join(DIR, f), env: {} }), f);
});

test('the quick start fine-tunes SmolLM2 and serves actor and reflection with its adapters; the sim variant uses none', () => {
  const { config } = loadConfig({ path: join(DIR, 'quickstart.yaml'), env: {} });
  assert.equal(config.finetune.backend, 'local');
  assert.equal(config.finetune.baseModel, '.tools/smollm2');
  const l = config.finetune.lora;
  assert.deepEqual([l.r, l.alpha, l.targetModules, l.scheduler, l.warmupRatio], [8, 16, 'all-linear', 'cosine', 0.1]);
  assert.deepEqual(config.llm.serveModel.roles, ['actor', 'reflection']);
  assert.equal(config.llm.teacher, undefined, 'the simulator teaches');
  const sim = loadConfig({ path: join(DIR, 'quickstart-sim.yaml'), env: {} }).config;
  assert.deepEqual([sim.llm.serveModel.roles, sim.finetune.baseModel], [[], undefined]);
});
