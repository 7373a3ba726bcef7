// The lint guards of the layers: core/rules (what workflows run) stays pure, workflows may import it
// and nothing else of core, config/ imports nothing of the project, workers/ and runtime/ never cli/.
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';

const root = resolve(__dirname, '..', '..');

async function lint(dir: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(code, { filePath: resolve(root, dir, 'lint.probe.ts') });
  return (result?.messages ?? []).map((m) => `${m.ruleId}: ${m.message}`);
}

const restricted = (messages: string[], needle: string) => messages.some((m) => m.includes('no-restricted-imports') && m.includes(needle));

test('core/rules rejects Node builtins, npm packages and impure core modules as values', async () => {
  const fs = await lint('core/rules', `import { readFileSync } from 'node:fs';\nexport const r = readFileSync;\n`);
  assert.ok(restricted(fs, 'no Node builtins'), fs.join('\n'));
  const zod = await lint('core/rules', `import { z } from 'zod';\nexport const S = z.string();\n`);
  assert.ok(restricted(zod, 'value imports only'), zod.join('\n'));
  const store = await lint('core/rules', `import { openStore } from '../store';\nexport const o = openStore;\n`);
  assert.ok(restricted(store, 'value imports only'), store.join('\n'));
  const schema = await lint('core/rules', `import { R4ecConfigSchema } from '../../config/schema';\nexport const s = R4ecConfigSchema;\n`);
  assert.ok(restricted(schema, 'value imports only'), schema.join('\n'));
});

test('core/rules rejects the clock, randomness and process', async () => {
  const clock = await lint('core/rules', `export function f(): number { return Date.now(); }\n`);
  assert.ok(clock.some((m) => m.includes('no-restricted-globals')), clock.join('\n'));
  const rnd = await lint('core/rules', `export function f(): number { return Math.random(); }\n`);
  assert.ok(rnd.some((m) => m.includes('no-restricted-properties')), rnd.join('\n'));
  const env = await lint('core/rules', `export function f(): string | undefined { return process.env.X; }\n`);
  assert.ok(env.some((m) => m.includes('no-restricted-globals')), env.join('\n'));
});

test('core/rules allows its siblings, config/names, and type imports of anything', async () => {
  const ok = await lint(
    'core/rules',
    `import { STAGES } from '../../config/names';\nimport type { R4ecConfig } from '../../config/schema';\nimport type { ArtifactStore } from '../store';\n` +
      `import type { z } from 'zod';\nimport { zeroUsage } from './usage';\n` +
      `export function f(c: R4ecConfig, s: ArtifactStore, t: z.ZodType): unknown { return [STAGES, zeroUsage(), c, s, t]; }\n`,
  );
  assert.deepEqual(ok, []);
});

test('workflows may import core/rules values, and nothing else of core', async () => {
  const ok = await lint('workflows', `import { workflowIds } from '../core/rules';\nimport { zeroUsage } from '../core/rules/usage';\nexport const w = [workflowIds, zeroUsage];\n`);
  assert.deepEqual(ok, []);
  const store = await lint('workflows', `import { openStore } from '../core/store';\nexport const w = openStore;\n`);
  assert.ok(restricted(store, 'except core/rules'), store.join('\n'));
  const runtime = await lint('workflows', `import { loadConfig } from '../runtime/config';\nexport const w = loadConfig;\n`);
  assert.ok(restricted(runtime, 'runtime/'), runtime.join('\n'));
});

test('config/ imports nothing of the project outside config/; workers/ and runtime/ never import cli/', async () => {
  const config = await lint('config', `import { R4ecError } from '../core/errors';\nexport const e = R4ecError;\n`);
  assert.ok(restricted(config, 'schemas and names only'), config.join('\n'));
  const configType = await lint('config', `import type { R4ecError } from '../core/errors';\nexport type E = R4ecError;\n`);
  assert.ok(restricted(configType, 'schemas and names only'), configType.join('\n'));
  assert.deepEqual(await lint('config', `import { STAGES } from './names';\nimport { z } from 'zod';\nexport const S = z.enum(STAGES);\n`), []);
  const workers = await lint('workers', `import { main } from '../cli/main';\nexport const m = main;\n`);
  assert.ok(restricted(workers, 'never imports cli/'), workers.join('\n'));
  const runtime = await lint('runtime', `import { workflowBundle } from '../workers/bootstrap';\nexport const b = workflowBundle;\n`);
  assert.ok(restricted(runtime, 'neither cli/ nor workers/'), runtime.join('\n'));
});
