// The construct stage's teacher on the Batch API (llm queue: the teacher's endpoint and the answer
// cache): one short activity per step of a round, so the stage workflow waits for a batch with
// durable timers, never with an activity held open. The logic is core/construct/teacher-batch.ts
// and core/llm/batch.ts; here: parse, heartbeat, map errors.
import { z } from 'zod';
import { DOMAINS } from '../config/names';
import { LlmSchema } from '../config/schema';
import { collectTeacherRound, prepareTeacherRound, submitTeacherRound, type CollectedRound, type PreparedRound } from '../core/construct/teacher-batch';
import { R4ecError } from '../core/errors';
import type { BatchInfo } from '../core/llm/batch';
import type { LlmRegistry } from '../core/llm/registry';
import { collectKarRound, prepareKarRound, submitKarRound, type CollectedKarRound, type PreparedKarRound } from '../core/refine/kar-batch';
import { RefineStage } from '../core/refine/stage';
import { toFailure } from './failure';
import { withHeartbeat } from './heartbeat';
import type { LlmActivityDeps } from './llm';
import { parseInput } from './validate';

export type { BatchInfo, CollectedKarRound, CollectedRound, PreparedKarRound, PreparedRound };

const Scope = {
  runId: z.string().min(1),
  domain: z.enum(DOMAINS),
  workKey: z.string().min(1),
  datasetKey: z.string().min(1),
  inferencesPerSample: z.number().int().positive(),
  session: z.string().min(1),
  round: z.number().int().positive(),
};
const PrepareInput = z.object({ ...Scope, cap: LlmSchema.shape.cap }).strict();
const SubmitInput = z.object(Scope).strict();
const CollectInput = z.object({ ...Scope, batchIds: z.array(z.string().min(1)), formatRetries: z.number().int().min(0).max(10), transport: LlmSchema.shape.transport, prices: LlmSchema.shape.prices }).strict();
const KarScope = {
  runId: z.string().min(1),
  key: z.string().min(1),
  ingestKey: z.string().min(1),
  domain: z.enum(DOMAINS),
  entities: z.object({ historyLength: z.number().int().positive(), activeUserMinInteractions: z.number().int().min(0), knowledgeCutoff: z.number().gt(0).lt(1).optional() }).strict(),
  total: z.number().int().min(0),
  model: z.string().min(1).optional(),
  session: z.string().min(1),
  round: z.number().int().positive(),
};
const KarPrepareInput = z.object({ ...KarScope, cap: LlmSchema.shape.cap }).strict();
const KarSubmitInput = z.object(KarScope).strict();
const KarCollectInput = z.object({ ...KarScope, batchIds: z.array(z.string().min(1)), formatRetries: z.number().int().min(0).max(10), transport: LlmSchema.shape.transport, prices: LlmSchema.shape.prices }).strict();
const PollInput = z.object({ batchIds: z.array(z.string().min(1)) }).strict();
const CancelInput = z.object({ runId: z.string().min(1) }).strict();

export function createTeacherBatchActivities(deps: LlmActivityDeps) {
  // The entity lists of refine's kar rounds (dataset views opened once per worker).
  let refineStage: RefineStage | undefined;
  const stage = () => (refineStage ??= new RefineStage(deps.store));
  const registry = (activity: string): LlmRegistry => {
    if (!deps.llm) throw toFailure(new R4ecError(`${activity}: this worker has no LLM registry (start it with \`r4ec worker --queue llm\`)`, 'LlmNotConfigured'));
    return deps.llm;
  };
  const run = async <T>(activity: string, fn: (llm: LlmRegistry) => Promise<T>): Promise<T> => {
    const llm = registry(activity);
    try {
      return await withHeartbeat(() => fn(llm));
    } catch (e) {
      throw toFailure(e, e instanceof R4ecError ? {} : { prefix: activity });
    }
  };
  return {
    async prepareTeacherRound(raw: z.input<typeof PrepareInput>): Promise<PreparedRound> {
      const input = parseInput(PrepareInput, raw, 'prepareTeacherRound');
      return run('prepareTeacherRound', (llm) => prepareTeacherRound(deps.store, llm.cache, llm.batchClient('teacher'), input));
    },

    async submitTeacherRound(raw: z.input<typeof SubmitInput>): Promise<string[]> {
      const input = parseInput(SubmitInput, raw, 'submitTeacherRound');
      return run('submitTeacherRound', async (llm) => {
        // The simulator answers from the dataset's catalog.
        if (llm.usesSimulator('teacher')) await deps.ensureSimulatorCatalog?.(input.datasetKey);
        return (await submitTeacherRound(deps.store, llm.batchClient('teacher'), input)).map((b) => b.id);
      });
    },

    /** One retrieve per batch: whether all have finished. */
    async pollTeacherBatches(raw: z.input<typeof PollInput>): Promise<{ finished: boolean; statuses: string[] }> {
      const input = parseInput(PollInput, raw, 'pollTeacherBatches');
      return run('pollTeacherBatches', async (llm) => {
        const bc = llm.batchClient('teacher');
        const infos: BatchInfo[] = [];
        for (const id of input.batchIds) infos.push(await bc.poll(id));
        return { finished: infos.every((b) => b.terminal), statuses: infos.map((b) => b.status) };
      });
    },

    async collectTeacherRound(raw: z.input<typeof CollectInput>): Promise<CollectedRound> {
      const input = parseInput(CollectInput, raw, 'collectTeacherRound');
      const { formatRetries, transport, prices, ...scope } = input;
      return run('collectTeacherRound', (llm) =>
        collectTeacherRound(deps.store, llm.batchClient('teacher'), { ...scope, llm: { formatRetries, transport, prices }, free: llm.usesSimulator('teacher') }),
      );
    },

    /** refine's kar rounds: the same steps, one kar request per entity (core/refine/kar-batch.ts). */
    async prepareKarRound(raw: z.input<typeof KarPrepareInput>): Promise<PreparedKarRound> {
      const input = parseInput(KarPrepareInput, raw, 'prepareKarRound');
      return run('prepareKarRound', (llm) => prepareKarRound(deps.store, stage(), llm.cache, llm.batchClient('teacher'), input));
    },

    async submitKarRound(raw: z.input<typeof KarSubmitInput>): Promise<string[]> {
      const input = parseInput(KarSubmitInput, raw, 'submitKarRound');
      return run('submitKarRound', async (llm) => {
        if (llm.usesSimulator('teacher')) await deps.ensureSimulatorCatalog?.(input.ingestKey);
        return (await submitKarRound(deps.store, llm.batchClient('teacher'), input)).map((b) => b.id);
      });
    },

    async collectKarRound(raw: z.input<typeof KarCollectInput>): Promise<CollectedKarRound> {
      const input = parseInput(KarCollectInput, raw, 'collectKarRound');
      const { formatRetries, transport, prices, ...scope } = input;
      return run('collectKarRound', (llm) => collectKarRound(deps.store, llm.batchClient('teacher'), { ...scope, llm: { formatRetries, transport, prices }, free: llm.usesSimulator('teacher') }));
    },

    /** Cancels every open batch of the run (a cancelled run leaves nothing running at the provider). */
    async cancelTeacherBatches(raw: z.input<typeof CancelInput>): Promise<number> {
      const input = parseInput(CancelInput, raw, 'cancelTeacherBatches');
      return run('cancelTeacherBatches', async (llm) => (await llm.batchClient('teacher').cancelRun(input.runId)).length);
    },
  };
}

export type TeacherBatchActivities = ReturnType<typeof createTeacherBatchActivities>;
