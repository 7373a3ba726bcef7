import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { trainerPython } from '../core/python-job/python';

/** The repository root (this file lives in runtime/). */
export const REPO_ROOT = resolve(__dirname, '..');

/** `$R4EC_STATE_DIR`, default `./.r4ec` (relative to the working directory). */
export function stateDirFrom(env: NodeJS.ProcessEnv, configured?: string): string {
  return resolve(env.R4EC_STATE_DIR ?? configured ?? '.r4ec');
}

/** The Temporal CLI: $R4EC_TEMPORAL_BIN, the project's .tools/temporal (scripts/setup.sh), or PATH. */
export function temporalBinary(env: NodeJS.ProcessEnv = process.env): string {
  if (env.R4EC_TEMPORAL_BIN) return env.R4EC_TEMPORAL_BIN;
  const local = resolve(REPO_ROOT, '.tools', 'temporal');
  return existsSync(local) ? local : 'temporal';
}

/** Python of the trainer venv made by scripts/setup.sh (one resolution for every caller: core/python-job). */
export const pythonBinary = trainerPython;
