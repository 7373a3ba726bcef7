// The encode stage's plan: done when its output exists, else the work (the encoder and one job per
// knowledge set and domain). Apart from core/encode/stage.ts because reading the encoder's identity
// loads the ONNX runtime, which refine (reading knowledge file names there) must not.
import type { KnowledgeSet } from '../../config/names';
import { DataError } from '../data/errors';
import type { StagePlan } from '../rules';
import { planStage } from '../stage/plan';
import type { ArtifactStore } from '../store';
import { EncoderError, encoderIdentity } from './model';
import { encodeStageKey, encodeSummaryOf, planJobs, type EncodeJob, type EncodeSummary } from './stage';

/** What an encode stage runs: the encoder directory and one job per (set, domain). */
export interface EncodeWork {
  modelDir: string;
  jobs: EncodeJob[];
}
export type EncodePlan = StagePlan<EncodeWork, EncodeSummary>;

/**
 * The output key follows the encoder's content (not its path), the sets and the inputs; with no
 * output yet, every knowledge file is validated before any encoding (`hashes`: the worker's cache of
 * encoder file hashes).
 */
export async function planEncodeStage(
  store: ArtifactStore,
  a: { modelDir: string; sets: readonly KnowledgeSet[]; refine: { key: string; contentHash: string }; ingest: { key: string; contentHash: string }; shardSize: number; lookupOnly: boolean; knowledgeCutoff?: number | undefined },
  hashes?: Map<string, string>,
): Promise<EncodePlan> {
  const identity = await encoderIdentity(a.modelDir, hashes).catch((err: unknown) => {
    if (err instanceof DataError) throw err;
    throw new EncoderError(
      `cannot read the encoder at ${a.modelDir}: ${(err as Error).message} ` +
        `(run scripts/setup.sh for the test encoder, or set encode.modelDir to a directory from scripts/export-encoder.py)`,
    );
  });
  return planStage({
    store,
    key: encodeStageKey({ sets: a.sets, encoder: identity, refineHash: a.refine.contentHash, ingestHash: a.ingest.contentHash, knowledgeCutoff: a.knowledgeCutoff }),
    stage: 'encode',
    lookupOnly: a.lookupOnly,
    summaryOf: encodeSummaryOf,
    work: async () => ({ modelDir: a.modelDir, jobs: await planJobs(store, a.refine.key, a.ingest.key, a.sets, a.shardSize) }),
  });
}

