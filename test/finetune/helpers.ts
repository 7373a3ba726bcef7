// Shared setup of the local-backend finetune tests: a tiny base model built once per test file,
// fake construct outputs in a store, and a small, fast finetune config.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { R4ecConfigSchema, type R4ecConfigInput } from '../../config/schema';
import { ensureTinyModel } from '../../core/finetune';
import { StageOutput, type ArtifactStore } from '../../core/store';
import { pythonBinary } from '../../runtime/paths';

export const REPO = resolve(__dirname, '..', '..');
export const PYTHON = pythonBinary();

let tiny: Promise<string> | undefined;
const cleanup: string[] = [];

/** The tiny random Qwen2 model (scripts/make-tiny-model.py), built once per process. */
export function tinyModel(): Promise<string> {
  tiny ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'r4ec-tiny-'));
    cleanup.push(dir);
    return (await ensureTinyModel({ python: PYTHON, trainerRoot: REPO, outDir: join(dir, 'tiny-qwen2') })).path;
  })();
  return tiny;
}

export function removeTinyModel(): void {
  cleanup.forEach((d) => rmSync(d, { recursive: true, force: true }));
}

/** A complete per-domain construct output holding the given D_* files. */
export async function writeConstruct(store: ArtifactStore, key: string, files: Record<string, string>): Promise<{ key: string; contentHash: string }> {
  const out = new StageOutput(store, key);
  for (const [name, text] of Object.entries(files)) await out.put(name, text);
  return { key, contentHash: await out.commit('construct') };
}

/** Fast LoRA settings for CPU tests (the paper's defaults are asserted elsewhere). */
export function testFinetune(baseModel: string, over: R4ecConfigInput['finetune'] = {}) {
  return R4ecConfigSchema.parse({
    finetune: {
      backend: 'local',
      baseModel,
      pollIntervalMs: 100,
      stopGraceSeconds: 60,
      // One thread: two OpenMP threads on the shared 2-core CI machine are several times slower.
      cpuThreads: 1,
      ...over,
      lora: { epochs: 1, batchSize: 4, learningRate: 5e-3, cutoffLen: 1024, checkpointEvery: 1, ...(over?.lora ?? {}) },
    },
  }).finetune;
}
