// Lint: type-aware rules everywhere, and the determinism guard for workflows/ (no Node builtins, no
// value imports of activities: workflows import activity *types* only).
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const builtins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['node_modules/**', '.tools/**', '.r4ec/**', 'dist/**', 'trainer/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['workflows/*.probe.ts'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: builtins.map((name) => ({ name, message: 'workflows must be deterministic: no Node builtins (do I/O in an activity)' })),
          patterns: [
            {
              group: ['**/activities', '**/activities/*', '../activities/**'],
              allowTypeImports: true,
              message: 'workflows import activity types only: `import type { ... }` and proxyActivities',
            },
            { group: ['**/core/**', '**/workers/**', '**/cli/**'], allowTypeImports: true, message: 'workflows may not import core/, workers/ or cli/ code (I/O and non-determinism live there)' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'no process.env in workflows: config arrives as validated input' },
        { name: 'setTimeout', message: 'use sleep() from @temporalio/workflow' },
        { name: 'setInterval', message: 'use sleep() from @temporalio/workflow' },
      ],
    },
  },
);
