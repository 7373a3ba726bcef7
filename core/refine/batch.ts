// A batch of refine entities run in one activity: entities [offset, offset+limit) of the domain's
// list, each through the entity workflow's own chain (core/rules runRefineChain) with every role
// asked in-process through the LLM client, the call cap booked and charged as the entity workflow
// does, and its record written as it finishes. Entities settled earlier (a retried batch, a stage
// continuing after the call cap) are counted, not redone. An entity that ends failed_format /
// failed_transport is handed back: the stage runs it as its own entity workflow, so the Web UI
// shows it with every prompt and answer.
import type { Domain, LlmRole, RefineOutcome } from '../../config/names';
import { askPrompt, withTransportRetries, type TransportPolicy } from '../llm/ask-prompt';
import { LlmError } from '../llm/errors';
import { addUsage, runRefineChain, workflowIds, zeroUsage, type LlmUsage, type RefineAnswer, type RefineAsk, type RefineStrategy } from '../rules';
import { runBatchUnits, type BatchHooks, type BatchLlm } from '../stage/batch';
import type { LlmCap } from './budget';
import type { EntityListOptions } from './entities';
import { isFailed, type EntityResult } from './record';
import type { RefineStage, RefineUnit } from './stage';

export interface RefineBatchInput {
  runId: string;
  /** The refine output key whose records the entities write. */
  key: string;
  ingestKey: string;
  domain: Domain;
  entities: EntityListOptions;
  cap: LlmCap;
  /** Entities [offset, offset+limit) of the domain's list. */
  offset: number;
  limit: number;
  strategy: RefineStrategy;
  maxIterations: number;
  filterSamples: number;
  /** Models to ask per role (fine-tuned adapters); absent = the endpoint's model. */
  models: Partial<Record<LlmRole, string>>;
  formatRetries: number;
  transport: TransportPolicy;
  /** Calls booked against the cap before an entity starts (0 = no cap). */
  reserveCalls: number;
  karFromActor: boolean;
  /** kar went through the teacher's batches of this session: its answer is in the cache, or its failure in the store. */
  karBatch?: { session: string } | undefined;
}

export interface RefineBatchResult {
  /** Outcomes of the entities settled here (finished now or earlier), failures excepted. */
  outcomes: Partial<Record<RefineOutcome, number>>;
  /** Entities that ended failed_format / failed_transport: each still needs its entity workflow. */
  failed: RefineUnit[];
  usage: LlmUsage;
}

export async function runRefineBatch(stage: RefineStage, llm: BatchLlm, input: RefineBatchInput, hooks: BatchHooks): Promise<RefineBatchResult> {
  const units = await stage.listUnits({ runId: input.runId, key: input.key, ingestKey: input.ingestKey, domain: input.domain, entities: input.entities, cap: input.cap, offset: input.offset, limit: input.limit });
  const result: RefineBatchResult = { outcomes: {}, failed: [], usage: zeroUsage() };
  const count = (o: RefineOutcome) => (result.outcomes[o] = (result.outcomes[o] ?? 0) + 1);
  const todo: RefineUnit[] = [];
  for (const u of units) {
    if (u.doneOutcome !== undefined) count(u.doneOutcome);
    else if (u.failedInBatch !== undefined) result.failed.push(u);
    else todo.push(u);
  }
  if (todo.length === 0) return result;
  const prepared = new Set<LlmRole>();
  const clientOf = async (role: LlmRole) => {
    if (!prepared.has(role)) {
      await llm.prepare?.(role, input.ingestKey);
      prepared.add(role);
    }
    return llm.client(role);
  };

  const outcomes = await runBatchUnits(todo, hooks, async (unit, signal, stop): Promise<RefineOutcome> => {
    const usage = zeroUsage();
    const workflowId = workflowIds.refineEntity(input.runId, input.domain, unit.entityId);
    // One execution id per entity: a retried save of the same record is recognised by it.
    const workflowRunId = `${hooks.execution}/e${unit.index}`;
    const finish = async (r: Omit<EntityResult, 'domain' | 'entityId' | 'index' | 'strategy' | 'usage' | 'workflowId' | 'workflowRunId'>, release: number) => {
      const record: EntityResult = { ...r, domain: input.domain, entityId: unit.entityId, index: unit.index, strategy: input.strategy, usage, workflowId, workflowRunId };
      const saved = await stage.saveEntity(input.key, record, { runId: input.runId, releaseCalls: release }, { unrecorded: unit.unrecorded === true });
      Object.assign(result.usage, addUsage(result.usage, usage));
      return saved.outcome;
    };
    const booking = input.reserveCalls > 0 ? await stage.budget.reserve(input.runId, input.cap, input.reserveCalls, workflowRunId) : { granted: true };
    if (!booking.granted) return finish({ outcome: 'skipped_call_cap', steps: [], kar: null, r2ec: null, r4ec: null, error: null }, 0);

    const ask: RefineAsk = async (role, prompt, seed, call): Promise<RefineAnswer> => {
      if (role === 'teacher' && input.karBatch) {
        const failure = await stage.karBatchFailure({ key: input.key, session: input.karBatch.session }, unit.index);
        if (failure) return { ok: false, failure };
      }
      const model = input.models[role];
      const meta = { runId: input.runId, stage: 'refine', role, domain: input.domain, entityId: unit.entityId };
      let out;
      try {
        const client = await clientOf(role);
        out = await withTransportRetries(input.transport, () => askPrompt(client, { prompt, seed, model, formatRetries: input.formatRetries, signal, meta, onRejected: stop }), signal);
      } catch (e) {
        // Retryable and out of attempts: this entity's outcome. A rejected request ends the batch.
        if (e instanceof LlmError && e.retryable && !signal.aborted) return { ok: false, failure: { outcome: 'failed_transport', call, message: e.message } };
        throw e;
      }
      Object.assign(usage, addUsage(usage, out.usage));
      if (out.status === 'failed_format') return { ok: false, failure: { outcome: 'failed_format', call, message: `${out.code}: ${out.error}` } };
      const a = out.value;
      if (a.type === 'judgement') return { ok: true, text: '', reasonable: a.reasonable, reflection: a.reflection, model: out.model };
      return { ok: true, text: a.knowledge, reasonable: false, reflection: '', model: out.model };
    };
    return finish(await runRefineChain({ ...input, sample: unit.sample! }, ask), input.reserveCalls);
  });
  todo.forEach((u, i) => {
    const o = outcomes[i]!;
    // `unrecorded` is this batch's own note (it has a record now): not part of what the stage gets back.
    const { unrecorded: _, ...unit } = u;
    if (isFailed(o)) result.failed.push({ ...unit, failedInBatch: o });
    else count(o);
  });
  return result;
}
