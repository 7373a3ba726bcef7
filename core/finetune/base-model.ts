// The base model of local LoRA jobs: a Hugging Face directory given in config, or (offline quick
// start, tests) the tiny random-weight model that scripts/make-tiny-model.py builds.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { TRAINER_ROOT, trainerPython } from '../python-job/python';
import { sha256 } from '../util/hash';
import { FinetuneError } from './errors';
import type { BaseModelIdentity } from './jobs';

export async function localBaseModel(path: string): Promise<BaseModelIdentity & { kind: 'local' }> {
  const dir = resolve(path);
  let config: Buffer;
  try {
    config = await readFile(join(dir, 'config.json'));
  } catch {
    throw new FinetuneError(
      'BaseModelMissing',
      `finetune.baseModel: no model at "${dir}" (expected a Hugging Face model directory with config.json, weights and tokenizer files); ` +
        'leave finetune.baseModel unset to train the tiny offline test model',
      false,
    );
  }
  // The tiny model's weights depend on its recipe (seed, vocabulary), not only on config.json.
  const recipe = await readFile(join(dir, 'r4ec-tiny.json')).catch(() => Buffer.alloc(0));
  return { kind: 'local', path: dir, configSha256: sha256(Buffer.concat([config, recipe])) };
}

/** Builds (or reuses) the tiny model under `outDir`; returns its identity. */
export async function ensureTinyModel(opts: { outDir: string; python?: string; trainerRoot?: string; env?: NodeJS.ProcessEnv }): Promise<BaseModelIdentity & { kind: 'local' }> {
  // Built before (the recipe marker is written last): no python start needed.
  try {
    await readFile(join(opts.outDir, 'r4ec-tiny.json'));
    return await localBaseModel(opts.outDir);
  } catch {
    // not built yet
  }
  const root = opts.trainerRoot ?? TRAINER_ROOT;
  const python = opts.python ?? trainerPython(opts.env);
  const script = join(root, 'scripts', 'make-tiny-model.py');
  await new Promise<void>((ok, fail) => {
    execFile(python, [script, opts.outDir], { cwd: root, env: { ...(opts.env ?? process.env), HF_HUB_OFFLINE: '1' }, timeout: 600_000 }, (err, _stdout, stderr) => {
      if (!err) return ok();
      const enoent = (err as NodeJS.ErrnoException).code === 'ENOENT';
      fail(
        new FinetuneError(
          'TrainerNotStartable',
          enoent ? `cannot run ${python} (run scripts/setup.sh to create the trainer venv)` : `building the tiny base model failed: ${err.message}`,
          !enoent,
          String(stderr).trim().split('\n').slice(-15),
        ),
      );
    });
  });
  return localBaseModel(opts.outDir);
}
