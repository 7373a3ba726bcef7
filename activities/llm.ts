// The LLM activity (llm queue): one prompt in, one parsed answer out, so every teacher, actor and
// reflection call is its own activity and the Web UI shows its prompt and answer. Construction
// schedules it as `askTeacher` (the same function under the name its histories carry).
//
// - Cache first (a completed call is never repeated), then one request; an unparsable answer is
//   re-asked with a correction turn up to `formatRetries` times, then returned as
//   `status: 'failed_format'` (the workflow records the outcome; no exception).
// - Transport errors are thrown for Temporal's retry policy: retryable ones (429, 5xx, timeouts)
//   carry Retry-After as `nextRetryDelay`; 400/401/404 are non-retryable and name the endpoint
//   and model, never the key.
// - When the caller set a heartbeat timeout, it heartbeats while the call waits, so the call of a
//   killed worker is retried elsewhere after the heartbeat timeout instead of the full call timeout.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import { DOMAINS, LLM_ROLES, STAGES } from '../config/names';
import { LlmError } from '../core/llm/errors';
import { correctionTurn, parseAnswer, type ParsedAnswer } from '../core/llm/parse';
import type { LlmRegistry } from '../core/llm/registry';
import { ChatMessageSchema, type ChatMessage } from '../core/llm/types';
import type { LlmUsage } from '../core/rules';
import { buildPrompt, PromptSpecError, PromptSpecSchema } from '../core/prompts/builders';
import type { PromptKind } from '../core/prompts/tags';
import type { ActivityDeps } from './deps';
import { toFailure } from './failure';
import { parseInput } from './validate';

/** The llm worker adds its client registry (endpoints per role, cache, usage ledger). */
export interface LlmActivityDeps extends ActivityDeps {
  llm?: LlmRegistry;
}

export const PromptKindSchema = z
  .object({
    domain: z.enum(DOMAINS),
    step: z.enum(['reason', 'reflect', 'refine']),
    variant: z.enum(['construct', 'inference']),
    medium: z.enum(['movie', 'book']),
  })
  .strict();

export const CallLlmInputSchema = z
  .object({
    /** For the usage ledger and logs. */
    runId: z.string().min(1).default('adhoc'),
    stage: z.enum(STAGES),
    role: z.enum(LLM_ROLES),
    domain: z.enum(DOMAINS).optional(),
    entityId: z.string().optional(),
    /** Either a prompt spec (built here) or ready messages plus their kind (for the parser). */
    prompt: PromptSpecSchema.optional(),
    messages: z.array(ChatMessageSchema).min(1).optional(),
    kind: PromptKindSchema.optional(),
    /** Request seed (the two construction inferences use 0 and 1). */
    seed: z.number().int(),
    /** Another model on the role's endpoint, e.g. a fine-tuned LoRA adapter's name. */
    model: z.string().min(1).optional(),
    /** The ingest artifact whose catalog the simulator needs (ignored by real endpoints). */
    catalogKey: z.string().min(1).optional(),
    /** Re-asks after an unparsable answer; default `llm.formatRetries` from config. */
    formatRetries: z.number().int().min(0).max(10).optional(),
  })
  .strict()
  .refine((v) => (v.prompt === undefined) !== (v.messages === undefined), { message: 'give exactly one of "prompt" or "messages"' })
  .refine((v) => v.prompt !== undefined || v.kind !== undefined, { message: '"messages" need their "kind" (which parser to use)' });
export type CallLlmInput = z.input<typeof CallLlmInputSchema>;

export type CallLlmOutput =
  | {
      status: 'ok';
      answer: ParsedAnswer;
      text: string;
      model: string;
      requestHash: string;
      cacheHit: boolean;
      formatAttempts: number;
      usage: LlmUsage;
    }
  | {
      status: 'failed_format';
      error: string;
      code: string;
      lastText: string;
      model: string;
      formatAttempts: number;
      usage: LlmUsage;
    };

/** askTeacher's input before it became callLlm's second name (a task scheduled by older code). */
const LegacyAskTeacherSchema = z
  .object({
    runId: z.string().min(1),
    datasetKey: z.string().min(1),
    domain: z.enum(DOMAINS),
    entityId: z.string().min(1),
    seed: z.number().int(),
    prompt: PromptSpecSchema,
    formatRetries: z.number().int().min(0).max(10),
  })
  .strict();

function fromLegacyAskTeacher(raw: unknown): unknown {
  const legacy = LegacyAskTeacherSchema.safeParse(raw);
  if (!legacy.success) return raw;
  const { datasetKey, ...rest } = legacy.data;
  return { ...rest, stage: 'construct', role: 'teacher', catalogKey: datasetKey };
}

const HEARTBEAT_MS = 2_000;

export function createLlmActivities(deps: LlmActivityDeps) {
  async function callLlm(raw: unknown, activity: 'callLlm' | 'askTeacher'): Promise<CallLlmOutput> {
    const ctx = Context.current();
    const beat = ctx.info.heartbeatTimeoutMs ? setInterval(() => ctx.heartbeat(), HEARTBEAT_MS) : undefined;
    try {
      return await call(parseInput(CallLlmInputSchema, raw, activity), activity);
    } finally {
      clearInterval(beat);
    }
  }

  async function call(input: z.infer<typeof CallLlmInputSchema>, activity: string): Promise<CallLlmOutput> {
    const registry = deps.llm;
    if (!registry) {
      throw ApplicationFailure.nonRetryable(`${activity}: this worker has no LLM registry (start it with \`r4ec worker --queue llm\`)`, 'LlmNotConfigured');
    }
    let messages: ChatMessage[];
    let kind: PromptKind;
    try {
      messages = input.prompt ? buildPrompt(input.prompt) : input.messages!;
      kind = input.prompt
        ? { domain: input.prompt.domain, step: input.prompt.step, variant: input.prompt.variant, medium: input.prompt.medium }
        : input.kind!;
    } catch (e) {
      if (e instanceof PromptSpecError) throw toFailure(e, { prefix: activity });
      throw e;
    }
    if (registry.usesSimulator(input.role)) await deps.ensureSimulatorCatalog?.(input.catalogKey);
    let client;
    try {
      client = registry.client(input.role);
    } catch (e) {
      if (e instanceof LlmError) throw toFailure(e);
      throw toFailure(e, { prefix: activity, type: 'LlmNotConfigured', nonRetryable: true });
    }
    const ctx = Context.current();
    try {
      const r = await client.ask({
        messages,
        seed: input.seed,
        ...(input.model ? { model: input.model } : {}),
        parse: (text) => parseAnswer(kind, text),
        correction: (err) => correctionTurn(kind, err),
        formatRetries: input.formatRetries ?? registry.formatRetries,
        signal: ctx.cancellationSignal,
        meta: {
          runId: input.runId,
          stage: input.stage,
          role: input.role,
          ...(input.domain ? { domain: input.domain } : {}),
          ...(input.entityId ? { entityId: input.entityId } : {}),
        },
      });
      if (r.status === 'ok') {
        return {
          status: 'ok',
          answer: r.value,
          text: r.text,
          model: r.model,
          requestHash: r.requestHash,
          cacheHit: r.cacheHit,
          formatAttempts: r.formatAttempts,
          usage: r.usage,
        };
      }
      return r;
    } catch (e) {
      if (e instanceof LlmError) {
        if (e.kind === 'cancelled' && ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? e;
        throw toFailure(e);
      }
      throw e;
    }
  }

  return {
    callLlm: (raw: CallLlmInput): Promise<CallLlmOutput> => callLlm(raw, 'callLlm'),
    /** Construction's name for the same call (its histories, tests and Web UI show askTeacher). */
    askTeacher: (raw: CallLlmInput): Promise<CallLlmOutput> => callLlm(fromLegacyAskTeacher(raw), 'askTeacher'),
  };
}
