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
import { toFailure } from './failure';
import { withHeartbeat } from './heartbeat';
import type { LlmActivityDeps } from './llm';
import { parseInput } from './validate';

export type { BatchInfo, CollectedRound, PreparedRound };

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
const PollInput = z.object({ batchIds: z.array(z.string().min(1)) }).strict();
const CancelInput = z.object({ runId: z.string().min(1) }).strict();

export function createTeacherBatchActivities(deps: LlmActivityDeps) {
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

    /** Cancels every open batch of the run (a cancelled run leaves nothing running at the provider). */
    async cancelTeacherBatches(raw: z.input<typeof CancelInput>): Promise<number> {
      const input = parseInput(CancelInput, raw, 'cancelTeacherBatches');
      return run('cancelTeacherBatches', async (llm) => (await llm.batchClient('teacher').cancelRun(input.runId)).length);
    },
  };
}

export type TeacherBatchActivities = ReturnType<typeof createTeacherBatchActivities>;
