// The served name of a base model directory: the name scripts/convert-gguf-model.py recorded
// (`r4ec-model.json`), else the directory's own name.
import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';

const ModelInfo = z.object({ name: z.string().min(1) }).passthrough();

export function baseModelName(dir: string): string {
  try {
    return ModelInfo.parse(JSON.parse(readFileSync(join(dir, 'r4ec-model.json'), 'utf8'))).name;
  } catch {
    return basename(resolve(dir));
  }
}
