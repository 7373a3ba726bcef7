// The LoRA jobs' content keys and hyper-parameters (the jobs themselves: core/rules/jobs.ts).
import type { R4ecConfig } from '../../config/schema';
import type { LoraJobName, SftDatasetKind } from '../rules/jobs';
import { hashJson } from '../util/hash';

export type FinetuneConfig = R4ecConfig['finetune'];

/** Bumped when the trainer or the dataset assembly changes what an adapter is. */
export const FINETUNE_CODE_VERSION = '1';

/** The hyper-parameters that change the adapter (operational knobs like checkpointEvery, microBatchSize, device are not). */
export function hyperParameters(ft: FinetuneConfig): Record<string, unknown> {
  const l = ft.lora;
  if (ft.backend === 'openai') {
    return { epochs: l.epochs, batchSize: l.batchSize, learningRateMultiplier: ft.openai.learningRateMultiplier ?? 'auto', seed: l.seed };
  }
  return {
    r: l.r,
    alpha: l.alpha,
    dropout: l.dropout,
    targetModules: l.targetModules,
    epochs: l.epochs,
    learningRate: l.learningRate,
    scheduler: l.scheduler,
    warmupRatio: l.warmupRatio,
    batchSize: l.batchSize,
    cutoffLen: l.cutoffLen,
    seed: l.seed,
  };
}

/**
 * What identifies a base model: a local directory by path and the hash of its config.json (and of the
 * tiny model's recipe when it was built); a provider model by name.
 */
export type BaseModelIdentity =
  | { kind: 'local'; path: string; configSha256: string }
  | { kind: 'provider'; name: string };

/** The job key: hash of (backend, base model, dataset content, hyper-parameters, code version). */
export function loraJobKey(input: { backend: 'local' | 'openai'; baseModel: BaseModelIdentity; dataHash: string; hyper: Record<string, unknown> }): string {
  return hashJson({ v: FINETUNE_CODE_VERSION, ...input }).slice(0, 24);
}

/** The name the adapter is served under (and refine asks for): readable, unique per job key. */
export function servedAdapterName(job: LoraJobName, jobKey: string): string {
  return `r4ec-${job}-${jobKey.slice(0, 12)}`;
}

/**
 * The file of one construct dataset in a per-domain construct output's file list. The construct
 * stage writes `reason.jsonl`, `reflect.jsonl`, `refine.jsonl` (optionally under a folder or with a
 * `d_`/domain prefix, e.g. `user/d_reason.jsonl`); any JSONL whose name tokens include the kind matches.
 */
export function findDatasetFile(files: readonly string[], kind: SftDatasetKind): string | undefined {
  const matches = files.filter((f) => {
    if (!f.endsWith('.jsonl')) return false;
    const base = f.split('/').pop()!.replace(/\.jsonl$/, '');
    const tokens = base.toLowerCase().split(/[^a-z0-9]+/);
    return tokens.includes(kind) || tokens.includes(`d${kind}`);
  });
  if (matches.length > 1) {
    throw new Error(`construct output has ${matches.length} files for D_${kind} (${matches.join(', ')}): expected one`);
  }
  return matches[0];
}
