// Where trainer jobs run from and with which interpreter: one answer for every stage, the CLI and the tests.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/** The repository root: `python -m trainer.<job>` imports the trainer package from here. */
export const TRAINER_ROOT = resolve(__dirname, '..', '..');

/** $R4EC_PYTHON, the venv that scripts/setup.sh makes (`.tools/venv`), or python3 from PATH. */
export function trainerPython(env: NodeJS.ProcessEnv = process.env): string {
  if (env.R4EC_PYTHON) return env.R4EC_PYTHON;
  const local = resolve(TRAINER_ROOT, '.tools', 'venv', 'bin', 'python');
  return existsSync(local) ? local : 'python3';
}
