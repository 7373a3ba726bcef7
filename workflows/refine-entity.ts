// refineEntityWorkflow: one entity's knowledge, each LLM step its own activity on the llm queue, so
// the Web UI shows every prompt, answer and error of the entity (`${runId}/refine/${domain}/${id}`).
// kar (teacher, once) runs beside the actor chain: iterative reason → judge → refine → judge …, or
// the filter's n samples each judged. Budgets: transport (the retry policy, then failed_transport),
// format (callLlm re-asks, then failed_format), refinement iterations, and the run-level call cap
// (checked before any call: skipped_call_cap). The outcome lands in the R4ecOutcome attribute.
import { ActivityFailure, ApplicationFailure, proxyActivities, proxyLocalActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { CallLlmInput, CallLlmOutput, createLlmActivities } from '../activities/llm';
import type { RefineActivities } from '../activities/refine';
import type { Domain, LlmRole, RefineOutcome } from '../config/names';
import type { EntityResult } from '../core/refine/record';
import {
  addUsage,
  heartbeatTimeout,
  runRefineChain,
  zeroUsage,
  type EntitySample,
  type LlmUsage,
  type RefineAnswer,
} from '../core/rules';
import { r4ecAttributes } from './search-attributes';

export interface RefineEntityInput {
  runId: string;
  /** The refine output key whose records this entity writes. */
  key: string;
  domain: Domain;
  entityId: string;
  index: number;
  sample: EntitySample;
  /** The ingest output: its catalog is the simulator's world knowledge (ignored by real endpoints). */
  catalogKey: string;
  strategy: 'iterative' | 'filter';
  maxIterations: number;
  filterSamples: number;
  /** Models to ask per role (fine-tuned adapters); absent = the endpoint's model. */
  models: Partial<Record<LlmRole, string>>;
  llmQueue: string;
  formatRetries: number;
  transport: { maxAttempts: number; initialIntervalMs: number; backoffCoefficient: number; maximumIntervalMs: number };
  callTimeoutMs: Record<LlmRole, number>;
  cap: { maxCalls?: number | undefined; maxTokens?: number | undefined };
  /** Calls booked against the cap before starting (the algorithm's minimum); 0 = no cap, no booking. */
  reserveCalls: number;
  /** kar's request equals the actor's first one (no adapter, same endpoint): take that answer. */
  karFromActor: boolean;
  /** kar went through the teacher's batches of this session: its answer is in the cache, or its failure in the store. */
  karBatch?: { session: string } | undefined;
  /** A call whose llm worker is silent this long is retried elsewhere (absent: the default). */
  heartbeatTimeoutSeconds?: number;
}

export interface RefineEntityOutput {
  outcome: RefineOutcome;
  usage: LlmUsage;
}

type Llm = ReturnType<typeof createLlmActivities>;

export async function refineEntityWorkflow(input: RefineEntityInput): Promise<RefineEntityOutput> {
  const info = workflowInfo();
  const local = proxyLocalActivities<RefineActivities>({ startToCloseTimeout: '1 minute', retry: { maximumAttempts: 10 } });
  const usage = zeroUsage();
  const finish = async (r: Omit<EntityResult, 'domain' | 'entityId' | 'index' | 'strategy' | 'usage' | 'workflowId' | 'workflowRunId'>, release: number) => {
    const record: EntityResult = { ...r, domain: input.domain, entityId: input.entityId, index: input.index, strategy: input.strategy, usage, workflowId: info.workflowId, workflowRunId: info.runId };
    await local.saveRefineEntity({ key: input.key, record, charge: { runId: input.runId, releaseCalls: release } });
    upsertSearchAttributes(r4ecAttributes({ runId: input.runId, stage: 'refine', domain: input.domain, entityId: input.entityId, outcome: r.outcome }));
    return { outcome: r.outcome, usage };
  };

  const booking = input.reserveCalls > 0 ? await local.reserveLlmBudget({ runId: input.runId, cap: input.cap, calls: input.reserveCalls, bookingId: info.runId }) : { granted: true };
  if (!booking.granted) return finish({ outcome: 'skipped_call_cap', steps: [], kar: null, r2ec: null, r4ec: null, error: null }, 0);

  const t = input.transport;
  const proxies = {} as Record<LlmRole, Llm>;
  for (const role of ['teacher', 'actor', 'reflection'] as const) {
    proxies[role] = proxyActivities<Llm>({
      taskQueue: input.llmQueue,
      startToCloseTimeout: input.callTimeoutMs[role],
      // callLlm beats every few seconds while it waits: a killed llm worker's call moves on quickly.
      heartbeatTimeout: heartbeatTimeout(input.heartbeatTimeoutSeconds),
      retry: { maximumAttempts: t.maxAttempts, initialInterval: t.initialIntervalMs, backoffCoefficient: t.backoffCoefficient, maximumInterval: t.maximumIntervalMs },
    });
  }

  async function ask(role: LlmRole, prompt: CallLlmInput['prompt'], seed: number, call: string): Promise<RefineAnswer> {
    if (role === 'teacher' && input.karBatch) {
      // Never a synchronous teacher request: the batches failed it, or callLlm finds it in the cache.
      const failure = await local.readKarBatchFailure({ key: input.key, session: input.karBatch.session, index: input.index });
      if (failure) return { ok: false, failure };
    }
    const model = input.models[role];
    let out: CallLlmOutput;
    try {
      out = await proxies[role].callLlm({ runId: input.runId, stage: 'refine', role, domain: input.domain, entityId: input.entityId, prompt, seed, catalogKey: input.catalogKey, formatRetries: input.formatRetries, ...(model ? { model } : {}) });
    } catch (err) {
      // A rejected request (bad key, unknown model, bad prompt) is the same for every entity: fail loudly.
      if (err instanceof ActivityFailure && !(err.cause instanceof ApplicationFailure && err.cause.nonRetryable)) {
        return { ok: false, failure: { outcome: 'failed_transport', call, message: err.cause?.message ?? err.message } };
      }
      throw err;
    }
    Object.assign(usage, addUsage(usage, out.usage));
    if (out.status === 'failed_format') return { ok: false, failure: { outcome: 'failed_format', call, message: `${out.code}: ${out.error}` } };
    const a = out.answer;
    if (a.type === 'judgement') return { ok: true, text: '', reasonable: a.reasonable, reflection: a.reflection, model: out.model };
    return { ok: true, text: a.knowledge, reasonable: false, reflection: '', model: out.model };
  }

  const r = await runRefineChain(input, ask);
  return finish(r, input.reserveCalls);
}
