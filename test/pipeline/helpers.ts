import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { synthesizeDataset } from '../../core/data/synth';
import type { R4ecConfigInput } from '../../config/schema';

/** A small synthetic data set and a config that runs the whole DAG in a few minutes on 2 cores. */
export async function smallPipelineConfig(stateDir: string, extra: R4ecConfigInput = {}): Promise<R4ecConfigInput> {
  const dir = join(stateDir, 'data', 'small');
  mkdirSync(dir, { recursive: true });
  await synthesizeDataset({ outDir: dir, seed: 3, users: 60, items: 90 });
  return {
    dataset: { kind: 'synthetic', path: dir },
    // The LoRA stage is covered by its own tests (real trainer); here it would cost minutes of CPU.
    finetune: { backend: 'none' },
    train: { backbones: ['deepfm'], variants: ['base', 'r4ec'], epochs: 2, seeds: [1] },
    ...extra,
  };
}
