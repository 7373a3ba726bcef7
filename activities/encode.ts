// Encode activities (gpu queue): plan → encodeShards per (set, domain) → assembleVectors.
// encodeShards heartbeats { nextShard } after every shard and resumes from it on a retry; shards
// that finished after the last heartbeat are found in the store, so none is encoded twice.
import { appendFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Context } from '@temporalio/activity';
import { z } from 'zod';
import { DOMAINS, KNOWLEDGE_SETS } from '../config/names';
import { EncodeSchema } from '../config/schema';
import { DataError } from '../core/data/errors';
import {
  EncoderError,
  OnnxEncoder,
  assembleAndCommit,
  committedEncoding,
  encodeShards as runShards,
  loadEncodeDataset,
  loadPlan,
  planEncodeStage,
  shardCount,
  removeWork,
  workPrefix,
  type EncodePlan,
  type EncodeSummary,
  type EncodeWork,
  type ExecutionProvider,
} from '../core/encode';
import { StoreError } from '../core/store';
import { StageOutputMissing } from '../core/stage/plan';
import type { ActivityDeps } from './deps';
import { toFailure } from './failure';
import { withHeartbeat } from './heartbeat';
import { parseInput } from './validate';

const Artifact = z.object({ key: z.string().min(1), contentHash: z.string().min(1) });
const SetName = z.enum(KNOWLEDGE_SETS);

const PlanInput = z.object({
  runId: z.string().min(1),
  encode: EncodeSchema,
  sets: z.array(SetName),
  refine: Artifact,
  ingest: Artifact,
  lookupOnly: z.boolean().default(false),
  knowledgeCutoff: z.number().gt(0).lt(1).optional(),
});
export type PlanEncodingInput = z.input<typeof PlanInput>;
export type { EncodePlan, EncodeWork };

const ShardsInput = z.object({
  key: z.string().min(1),
  set: SetName,
  domain: z.enum(DOMAINS),
  refineKey: z.string().min(1),
  ingestKey: z.string().min(1),
  modelDir: z.string().min(1),
  encode: EncodeSchema,
});
export type EncodeShardsInput = z.input<typeof ShardsInput>;
export interface EncodeShardsOutput {
  shards: number;
  encoded: number;
  reused: number;
}

const AssembleInput = ShardsInput.omit({ set: true, domain: true }).extend({ sets: z.array(SetName), knowledgeCutoff: z.number().gt(0).lt(1).optional() });
export type AssembleVectorsInput = z.input<typeof AssembleInput>;
export interface AssembleVectorsOutput {
  key: string;
  contentHash: string;
  summary: EncodeSummary;
}

/** Resume details of encodeShards. */
const Heartbeat = z.object({ nextShard: z.number().int().min(0), shards: z.number().int().min(0) });

/** The test encoder that scripts/setup.sh links into the clone. */
const DEFAULT_MODEL_DIR = resolve(__dirname, '..', '.tools', 'encoder');

export function resolveModelDir(configured: string | undefined, env: NodeJS.ProcessEnv): string {
  return resolve(configured ?? env.R4EC_ENCODER_DIR ?? DEFAULT_MODEL_DIR);
}

/** Bad data and bad models cannot be fixed by retrying; say exactly what is wrong instead. */
async function mapErrors<T>(fn: (beat: (details?: unknown) => void) => Promise<T>): Promise<T> {
  try {
    return await withHeartbeat(fn);
  } catch (err) {
    if (err instanceof DataError) throw toFailure(err, { type: 'BadKnowledgeData' });
    if (err instanceof EncoderError || err instanceof StageOutputMissing) throw toFailure(err);
    if (err instanceof StoreError && err.code !== 'io') throw toFailure(err, { type: 'StoreError' });
    throw err;
  }
}

export function createEncodeActivities(deps: ActivityDeps) {
  // One session per model and settings for the worker's life: loading BGE-M3 takes seconds.
  const encoders = new Map<string, Promise<OnnxEncoder>>();
  const hashes = new Map<string, string>();
  const openEncoder = (dir: string, providers: readonly ExecutionProvider[], threads: number, deviceId?: number): Promise<OnnxEncoder> => {
    const id = `${dir}|${providers.join(',')}|${threads}|${deviceId ?? ''}`;
    let p = encoders.get(id);
    if (!p) {
      p = OnnxEncoder.open(dir, { executionProviders: providers, threads, ...(deviceId !== undefined ? { deviceId } : {}) });
      p.catch(() => encoders.delete(id));
      encoders.set(id, p);
    }
    return p;
  };
  const logFile = join(deps.stateDir, 'logs', 'encode-shards.jsonl');

  return {
    /** Checks the inputs, derives the output key, and says what to encode (nothing, when it exists). */
    async planEncoding(raw: PlanEncodingInput): Promise<EncodePlan> {
      const input = parseInput(PlanInput, raw, 'planEncoding');
      const modelDir = resolveModelDir(input.encode.modelDir, deps.env);
      return mapErrors(() => planEncodeStage(deps.store, { ...input, modelDir, shardSize: input.encode.shardSize }, hashes));
    },

    /** Encodes one knowledge set's distinct texts for one domain, shard by shard. */
    async encodeShards(raw: EncodeShardsInput): Promise<EncodeShardsOutput> {
      const input = parseInput(ShardsInput, raw, 'encodeShards');
      const ctx = Context.current();
      // The side timer keeps a model load or a long batch alive; `beat` moves the resume offset.
      return mapErrors(async (beat) => {
        const dataset = await loadEncodeDataset(deps.store, input.ingestKey, { sequences: false });
        const plan = await loadPlan(deps.store, input.refineKey, input.set, input.domain, dataset);
        const resume = Heartbeat.safeParse(ctx.info.heartbeatDetails);
        const startShard = resume.success ? resume.data.nextShard : 0;
        if (plan.texts.length === 0) return { shards: 0, encoded: 0, reused: 0 };
        // On a machine with several GPUs, concurrent encodings each get a device of their own.
        const device = input.encode.executionProviders.includes('cuda') ? deps.devices?.acquire() : undefined;
        try {
          const encoder = await openEncoder(input.modelDir, input.encode.executionProviders, input.encode.threads, device?.ordinal);
          await mkdir(join(deps.stateDir, 'logs'), { recursive: true });
          let last = { nextShard: startShard, shards: shardCount(plan.texts.length, input.encode.shardSize) };
          const result = await runShards({
            store: deps.store,
            prefix: workPrefix(input.key, input.encode.shardSize, input.set, input.domain),
            texts: plan.texts,
            shardSize: input.encode.shardSize,
            batchSize: input.encode.batchSize,
            maxBatchTokens: input.encode.maxBatchTokens,
            encoder,
            startShard,
            signal: ctx.cancellationSignal,
            onProgress: (p) => {
              last = p;
              beat(p);
            },
            // Between shards the offset does not move, but a long shard must not look like a dead worker.
            onBatch: () => beat(last),
            onShardEncoded: async (e) => {
              // One line per shard actually encoded: operators (and tests) see that a retry redid none.
              await appendFile(
                logFile,
                JSON.stringify({ key: input.key, set: input.set, domain: input.domain, ...e, attempt: ctx.info.attempt, pid: process.pid }) + '\n',
              );
            },
          });
          return { shards: result.shards, encoded: result.encoded.length, reused: result.reused };
        } finally {
          device?.release();
        }
      });
    },

    /**
     * Builds the per-entity matrices from the shards, commits the output, drops the scratch shards.
     * Retried after the commit, it returns the committed output and finishes dropping the shards.
     */
    async assembleVectors(raw: AssembleVectorsInput): Promise<AssembleVectorsOutput> {
      const input = parseInput(AssembleInput, raw, 'assembleVectors');
      return mapErrors(async () => {
        const committed = await committedEncoding(deps.store, input.key);
        if (committed) {
          await removeWork(deps.store, input.key, input.encode.shardSize);
          return { key: input.key, ...committed };
        }
        const encoder = await openEncoder(input.modelDir, input.encode.executionProviders, input.encode.threads);
        const { contentHash, summary } = await assembleAndCommit({
          store: deps.store,
          key: input.key,
          refineKey: input.refineKey,
          ingestKey: input.ingestKey,
          sets: input.sets,
          shardSize: input.encode.shardSize,
          dim: encoder.dim,
          model: encoder.config.name ?? input.modelDir,
          knowledgeCutoff: input.knowledgeCutoff,
        });
        await removeWork(deps.store, input.key, input.encode.shardSize);
        return { key: input.key, contentHash, summary };
      });
    },
  };
}

