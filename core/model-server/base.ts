// The served name of a base model directory: the name scripts/convert-gguf-model.py recorded
// (`r4ec-model.json`), else the directory's own name.
import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';
import type { R4ecConfig } from '../../config/schema';
import { TRAINER_ROOT } from '../python-job/python';

/** SmolLM2-135M-Instruct in Hugging Face format, installed by scripts/setup.sh. */
export const DEFAULT_BASE = join(TRAINER_ROOT, '.tools', 'smollm2');

const ModelInfo = z.object({ name: z.string().min(1) }).passthrough();

export function baseModelName(dir: string): string {
  try {
    return ModelInfo.parse(JSON.parse(readFileSync(join(dir, 'r4ec-model.json'), 'utf8'))).name;
  } catch {
    return basename(resolve(dir));
  }
}

/** The base model directory the pipeline's local model server loads: llm.serveModel.base, the adapters' base (finetune.baseModel), or the installed SmolLM2. */
export function servedBaseDir(config: Pick<R4ecConfig, 'llm' | 'finetune'>): string {
  return resolve(config.llm.serveModel.base ?? (config.finetune.backend === 'local' ? config.finetune.baseModel : undefined) ?? DEFAULT_BASE);
}
