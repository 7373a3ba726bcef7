// One entity's refinement as a pure chain over an `ask` function: kar (the teacher, once) beside the
// actor chain — iterative reason → judge → refine → judge …, or the filter's n samples each judged —
// and the outcome, the final knowledge and the failure that ended it. The entity workflow runs it
// with `ask` = one callLlm activity per call; a batch activity runs it in-process with the LLM
// client. Same code, same order of calls: both modes reach the same outcome for the same answers.
import type { LlmRole, RefineOutcome } from '../../config/names';
import type { PromptSpec } from '../prompts/builders';
import {
  filterOutcome,
  finalKnowledge,
  inferenceSpec,
  iterativeOutcome,
  nextIterativeStep,
  type EntitySample,
  type FinalKnowledge,
  type RefineStep,
  type RefineStrategy,
  type StepFailure,
} from './refine';

/** One call's answer as the chain needs it, or why the call failed (the entity then ends failed_*). */
export type RefineAnswer = { ok: true; text: string; reasonable: boolean; reflection: string; model: string } | { ok: false; failure: StepFailure };

/** Asks `role` one prompt with request seed `seed`; `call` names it in a failure (kar, reason, reflect[0], …). */
export type RefineAsk = (role: LlmRole, prompt: PromptSpec, seed: number, call: string) => Promise<RefineAnswer>;

export interface RefineChainInput {
  sample: EntitySample;
  strategy: RefineStrategy;
  maxIterations: number;
  filterSamples: number;
  /** kar's request equals the actor's first one (no adapter, same endpoint): take that answer. */
  karFromActor: boolean;
}

export interface RefineChainResult {
  outcome: RefineOutcome;
  steps: RefineStep[];
  kar: string | null;
  r2ec: string | null;
  r4ec: FinalKnowledge | null;
  error: StepFailure | null;
}

export async function runRefineChain(input: RefineChainInput, ask: RefineAsk): Promise<RefineChainResult> {
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
  let kar: Promise<RefineAnswer> | undefined;
  let firstAnswer: RefineAnswer | undefined;
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

  let outcome: RefineOutcome | undefined;
  let r4ec: FinalKnowledge | null = null;
  if (!chainFailure) {
    const f = input.strategy === 'filter' ? filterOutcome(steps) : { outcome: iterativeOutcome(steps), kept: undefined };
    r4ec = finalKnowledge(input.strategy, steps, f.kept);
    outcome = f.outcome;
  }
  // A failed kar call fails the entity too (so rerun --failed redoes it) but keeps the finished chain.
  const failure = chainFailure ?? (karAnswer.ok ? undefined : karAnswer.failure);
  if (failure) outcome = failure.outcome;
  const r2ec = steps.find((s) => s.step === 'reason' && s.seed === 0)?.text ?? null;
  return { outcome: outcome!, steps, kar: karAnswer.ok ? karAnswer.text : null, r2ec, r4ec, error: failure ?? null };
}
