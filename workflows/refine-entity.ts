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
  filterOutcome,
  finalKnowledge,
  heartbeatTimeout,
  inferenceSpec,
  iterativeOutcome,
  nextIterativeStep,
  zeroUsage,
  type EntitySample,
  type LlmUsage,
  type RefineStep,
  type StepFailure,
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
  /** A call whose llm worker is silent this long is retried elsewhere (absent: the default). */
  heartbeatTimeoutSeconds?: number;
}

export interface RefineEntityOutput {
  outcome: RefineOutcome;
  usage: LlmUsage;
}

type Llm = ReturnType<typeof createLlmActivities>;
type Answer = { ok: true; text: string; reasonable: boolean; reflection: string; model: string } | { ok: false; failure: StepFailure };

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

  const booking = input.reserveCalls > 0 ? await local.reserveLlmBudget({ runId: input.runId, cap: input.cap, calls: input.reserveCalls }) : { granted: true };
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

  async function ask(role: LlmRole, prompt: CallLlmInput['prompt'], seed: number, call: string): Promise<Answer> {
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

  const steps: RefineStep[] = [];
  const judge = async (step: RefineStep, seed: number, call: string): Promise<StepFailure | undefined> => {
    const j = await ask('reflection', inferenceSpec(input.sample, 'reflect', step.text), seed, call);
    if (!j.ok) return j.failure;
    step.judgement = { reasonable: j.reasonable, reflection: j.reflection, model: j.model };
    return undefined;
  };

  // kar asks the teacher the actor's first question. When that request is the actor's own (same
  // model, no adapter) the answer is taken from the actor's first call; otherwise kar starts once
  // that answer is in, beside the rest of the chain.
  let kar: Promise<Answer> | undefined;
  let firstAnswer: Answer | undefined;
  const startKar = () => (kar ??= input.karFromActor && firstAnswer ? Promise.resolve(firstAnswer) : ask('teacher', inferenceSpec(input.sample, 'reason'), 0, 'kar'));

  async function iterative(): Promise<StepFailure | undefined> {
    const first = (firstAnswer = await ask('actor', inferenceSpec(input.sample, 'reason'), 0, 'reason'));
    void startKar();
    if (!first.ok) return first.failure;
    steps.push({ step: 'reason', seed: 0, model: first.model, text: first.text, judgement: null });
    for (;;) {
      const next = nextIterativeStep(steps, input.maxIterations);
      if (next.kind === 'stop') return undefined;
      const n = steps.length - 1;
      if (next.kind === 'reflect') {
        const f = await judge(steps[n]!, 0, `reflect[${n}]`);
        if (f) return f;
        continue;
      }
      const r = await ask('actor', inferenceSpec(input.sample, 'refine', next.previous, next.reflection), 0, `refine[${n + 1}]`);
      if (!r.ok) return r.failure;
      steps.push({ step: 'refine', seed: 0, model: r.model, text: r.text, judgement: null });
    }
  }

  async function filter(): Promise<StepFailure | undefined> {
    const seeds = Array.from({ length: input.filterSamples }, (_, s) => s);
    const results = await Promise.all(
      seeds.map(async (seed): Promise<{ step?: RefineStep; failure?: StepFailure }> => {
        const a = await ask('actor', inferenceSpec(input.sample, 'reason'), seed, `sample[${seed}]`);
        if (seed === 0) {
          firstAnswer = a;
          void startKar();
        }
        if (!a.ok) return { failure: a.failure };
        const step: RefineStep = { step: 'reason', seed, model: a.model, text: a.text, judgement: null };
        const f = await judge(step, seed, `reflect[${seed}]`);
        return f ? { step, failure: f } : { step };
      }),
    );
    for (const r of results) if (r.step) steps.push(r.step);
    return results.find((r) => r.failure)?.failure;
  }

  const chainFailure = await (input.strategy === 'filter' ? filter() : iterative());
  const karAnswer = await startKar();

  let outcome: RefineOutcome;
  let r4ec: EntityResult['r4ec'] = null;
  if (!chainFailure) {
    const f = input.strategy === 'filter' ? filterOutcome(steps) : { outcome: iterativeOutcome(steps), kept: undefined };
    r4ec = finalKnowledge(input.strategy, steps, f.kept);
    outcome = f.outcome;
  }
  // A failed kar call fails the entity too (so rerun --failed redoes it) but keeps the finished chain.
  const failure = chainFailure ?? (karAnswer.ok ? undefined : karAnswer.failure);
  if (failure) outcome = failure.outcome;
  const r2ec = steps.find((s) => s.step === 'reason' && s.seed === 0)?.text ?? null;
  return finish({ outcome: outcome!, steps, kar: karAnswer.ok ? karAnswer.text : null, r2ec, r4ec, error: failure ?? null }, input.reserveCalls);
}
