import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError, envOverrides, loadConfig } from '../../runtime/config';

const dir = mkdtempSync(join(tmpdir(), 'r4ec-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

test('no file: the embedded default (local dev server, simulator, synthetic data)', () => {
  const { config, hash } = loadConfig({ env: {} });
  assert.equal(config.temporal.address, undefined);
  assert.equal(config.dataset.kind, 'synthetic');
  assert.equal(config.llm.teacher, undefined);
  assert.equal(config.queues.gpu.slots, 1);
  assert.equal(config.queues.cpu.name, 'r4ec-cpu');
  assert.match(hash, /^[0-9a-f]{64}$/);
});

test('YAML file with nested partial sections gets defaults filled in', () => {
  const p = file('ok.yaml', 'dataset:\n  kind: ml-1m\n  path: ../shared/data/ml-1m\nqueues:\n  gpu:\n    slots: 2\ntrain:\n  variants: [base]\n');
  const { config } = loadConfig({ path: p, env: {} });
  assert.equal(config.dataset.kind, 'ml-1m');
  assert.equal(config.queues.gpu.slots, 2);
  assert.equal(config.queues.gpu.name, 'r4ec-gpu');
  assert.deepEqual(config.train.variants, ['base']);
  assert.equal(config.finetune.lora.r, 8);
});

test('env overrides: R4EC__A__B_C=value, JSON-typed when it parses', () => {
  const env = { R4EC__TEMPORAL__ADDRESS: 'temporal.example:7233', R4EC__LLM__SIMULATOR__LATENCY_MS: '500', R4EC__TRAIN__SEEDS: '[1,2,3]', OTHER: 'x' };
  assert.equal(envOverrides(env).length, 3);
  const { config } = loadConfig({ env });
  assert.equal(config.temporal.address, 'temporal.example:7233');
  assert.equal(config.llm.simulator.latencyMs, 500);
  assert.deepEqual(config.train.seeds, [1, 2, 3]);
});

test('a bad config lists every problem as path: message, with a suggestion and exit code 2', () => {
  const p = file('bad.yaml', 'dataset:\n  kind: netflix\nqueues:\n  gpu:\n    slots: 0\ntrian:\n  epochs: 3\nllm:\n  teacher:\n    baseUrl: not-a-url\n    model: gpt\n');
  try {
    loadConfig({ path: p, env: {} });
    assert.fail('expected a ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.exitCode, 2);
    assert.ok(err.suggestion);
    const text = err.problems.join('\n');
    assert.match(text, /^dataset\.kind: /m);
    assert.match(text, /^queues\.gpu\.slots: /m);
    assert.match(text, /^llm\.teacher\.baseUrl: /m);
    assert.match(text, /unknown key "trian" \(did you mean "train"\?\)/);
    assert.equal(err.problems.length, 4);
  }
});

test('YAML syntax errors name the file and line', () => {
  const p = file('syntax.yaml', 'dataset:\n  kind: ml-1m\n   path: [unclosed\n');
  assert.throws(() => loadConfig({ path: p, env: {} }), (e: unknown) => e instanceof ConfigError && /syntax\.yaml:\d+/.test(e.problems[0]!));
});

test('a missing file is a clear error, not a crash', () => {
  assert.throws(() => loadConfig({ path: join(dir, 'nope.yaml'), env: {} }), /cannot read config file .*nope\.yaml/);
});
