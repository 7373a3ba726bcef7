// Lint: type-aware rules everywhere, the determinism guard for workflows/ (no Node builtins, no
// value imports of activities: workflows import activity *types* only), and the layer arrows:
// config/ is schemas and names (imports nothing of the project outside config/), workers/ and
// runtime/ never import cli/, runtime/ never imports workers/; core/rules/ (rules that workflows run)
// is pure: value imports only from core/rules/ and config/names, no Node builtins, no clock or
// randomness.
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const builtins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['node_modules/**', '.tools/**', '.r4ec/**', 'dist/**', 'trainer/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['workflows/*.probe.ts', 'core/rules/*.probe.ts', 'config/*.probe.ts', 'workers/*.probe.ts', 'runtime/*.probe.ts'] }, tsconfigRootDir: import.meta.dirname },
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
            {
              group: ['**/core/**', '!**/core/rules', '!**/core/rules/**', '**/workers/**', '**/cli/**', '**/runtime/**'],
              allowTypeImports: true,
              message: 'workflows may not import core/ (except core/rules), runtime/, workers/ or cli/ code (I/O and non-determinism live there)',
            },
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
  {
    files: ['config/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['../*', '../**'], message: 'config/ is schemas and names only: it imports nothing of the project outside config/ (loading lives in runtime/config.ts)' }] },
      ],
    },
  },
  {
    files: ['workers/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [{ group: ['**/cli', '**/cli/**'], message: 'workers/ never imports cli/: what both need lives in runtime/' }] }],
    },
  },
  {
    files: ['runtime/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/cli', '**/cli/**', '**/workers', '**/workers/**'], message: 'runtime/ is shared by cli/, workers/, tests and bench: it imports neither cli/ nor workers/' }] },
      ],
    },
  },
  {
    files: ['core/rules/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: builtins.map((name) => ({ name, message: 'core/rules is pure (workflows run it): no Node builtins' })),
          patterns: [
            {
              // Anything but a sibling in core/rules or config/names: types only.
              regex: '^(?!\\./[^/]+$|\\.\\./\\.\\./config/names$)',
              allowTypeImports: true,
              message: 'core/rules is pure (workflows run it): value imports only from core/rules and config/names; `import type` for anything else',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'core/rules is pure: values arrive as arguments' },
        { name: 'setTimeout', message: 'core/rules is pure: no timers' },
        { name: 'setInterval', message: 'core/rules is pure: no timers' },
        { name: 'Date', message: 'core/rules is pure: times arrive as arguments' },
      ],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'core/rules is pure: no randomness' }],
    },
  },
);
