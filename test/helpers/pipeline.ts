// A whole-DAG run small enough for a test: a seeded synthetic data set written under the state dir
// and a config that runs every stage in a few minutes on 2 cores.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { synthesizeDataset } from '../../core/data/synth';
import type { R4ecConfigInput } from '../../config/schema';

/**
 * The config (plain JSON, as an operator writes it) of a small run over `users` × `items`
 * synthetic data (60 × 90 by default); `extra` overrides any section.
 */
export async function smallPipelineConfig(stateDir: string, extra: R4ecConfigInput = {}, size: { users?: number; items?: number; seed?: number } = {}): Promise<R4ecConfigInput> {
  const { users = 60, items = 90, seed = 3 } = size;
  const dir = join(stateDir, 'data', `small-${users}x${items}-${seed}`);
  mkdirSync(dir, { recursive: true });
  await synthesizeDataset({ outDir: dir, seed, users, items });
  return {
    dataset: { kind: 'synthetic', path: dir },
    // The LoRA stage is covered by its own tests (real trainer); here it would cost minutes of CPU.
    finetune: { backend: 'none' },
    train: { backbones: ['deepfm'], variants: ['base', 'r4ec'], epochs: 2, seeds: [1] },
    ...extra,
  };
}
