import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';

const root = resolve(__dirname, '..', '..');
const probePath = resolve(root, 'workflows', 'lint.probe.ts');

async function lintWorkflow(code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(code, { filePath: probePath });
  return (result?.messages ?? []).map((m) => `${m.ruleId}: ${m.message}`);
}

test('lint rejects a workflow that imports a Node builtin', async () => {
  const fsImport = await lintWorkflow(`import { readFileSync } from 'fs';\nexport function w(): string { return readFileSync('x', 'utf8'); }\n`);
  assert.ok(fsImport.some((m) => m.includes('no-restricted-imports') && m.includes('deterministic')), fsImport.join('\n'));
  const nodeFs = await lintWorkflow(`import { readFile } from 'node:fs/promises';\nexport const w = readFile;\n`);
  assert.ok(nodeFs.some((m) => m.includes('no-restricted-imports')), nodeFs.join('\n'));
});

test('lint rejects value imports of activities and process.env in workflows, allows type imports', async () => {
  const valueImport = await lintWorkflow(`import { createStoreActivities } from '../activities/store';\nexport const w = createStoreActivities;\n`);
  assert.ok(valueImport.some((m) => m.includes('activity types only')), valueImport.join('\n'));
  const env = await lintWorkflow(`export function w(): string | undefined { return process.env.X; }\n`);
  assert.ok(env.some((m) => m.includes('no-restricted-globals')), env.join('\n'));
  const ok = await lintWorkflow(
    `import { proxyActivities } from '@temporalio/workflow';\nimport type { createStoreActivities } from '../activities/store';\n` +
      `const a = proxyActivities<ReturnType<typeof createStoreActivities>>({ startToCloseTimeout: '1 minute' });\n` +
      `export async function w(): Promise<string> { return (await a.writeSmokeArtifact({ key: 'k', text: 't' })).key; }\n`,
  );
  assert.deepEqual(ok, []);
});

test('lint flags floating promises', async () => {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(`async function f(): Promise<void> {}\nexport function g(): void { f(); }\n`, { filePath: probePath });
  assert.ok(result?.messages.some((m) => m.ruleId === '@typescript-eslint/no-floating-promises'));
});
