// One chat completion as the simulator answers it, shared by the synchronous route and by every
// line of a batch, so both draw the same fault for the same (request, occurrence) and answer the
// same text: a batch line is exactly the request `/v1/chat/completions` would have received.
import { z } from 'zod';
import { requestHash } from '../llm/cache';
import { ChatMessageSchema, type ChatMessage } from '../llm/types';
import { kindLabel } from '../prompts/tags';
import { answer, malformedAnswer, sloppyAnswer, type SimBehaviour } from './answer';
import type { Catalog } from './catalog';
import { Rng } from './rng';

export const SIMULATOR_OWNER = 'r4ec-simulator';

export interface SimFaults {
  /** Added to every synchronous response (batch lines wait for the batch instead). */
  latencyMs?: number;
  /** Extra random latency in [0, latencyJitterMs). */
  latencyJitterMs?: number;
  malformedRate?: number;
  rateLimitRate?: number;
  serverErrorRate?: number;
  /** Retry-After sent with injected 429s (seconds; fractions go to retry-after-ms). */
  retryAfterSeconds?: number;
  /** Well-formed answers in untidy shape (lower-case tags, fences, a missing closing tag). */
  sloppyRate?: number;
}

export type SimOutcome =
  | 'ok'
  | 'malformed'
  | 'rate_limited'
  | 'server_error'
  | 'unknown_model'
  | 'unauthorized'
  | 'bad_request'
  | 'aborted'
  /** A call of the files / batches API (no model request); never counted as a request. */
  | 'api';

/** What the simulator knows and remembers between requests. */
export interface SimWorld {
  catalog(): Catalog;
  hasModel(name: string): boolean;
  isAdapter(name: string): boolean;
  faults: SimFaults;
  seed: number;
  behaviour: Partial<SimBehaviour> | undefined;
  /** How often each request hash was seen: the n-th repetition may draw another fault. */
  occurrences: Map<string, number>;
}

const ChatBody = z
  .object({
    model: z.string().min(1),
    messages: z.array(ChatMessageSchema.passthrough()).min(1),
    temperature: z.number().optional(),
    top_p: z.number().optional(),
    max_tokens: z.number().int().optional(),
    seed: z.number().int().optional(),
    stream: z.boolean().optional(),
  })
  .passthrough();

export function errorBody(message: string, type: string, code: string | number | null, param: string | null = null) {
  return { error: { message, type, param, code } };
}

export function approxTokens(s: string): number {
  return Math.ceil(s.length / 4);
}

/** The HTTP reply to one chat request and what the log records about it. */
export interface ChatReply {
  status: number;
  body: unknown;
  headers: Record<string, string>;
  outcome: SimOutcome;
  hash: string;
  occurrence: number;
  model: string;
  kind: string | null;
  promptTokens: number;
  completionTokens: number;
}

/** A request that passed validation: its fault is drawn, its answer not yet computed. */
export interface AcceptedChat {
  accepted: true;
  model: string;
  messages: ChatMessage[];
  requestSeed: number;
  hash: string;
  occurrence: number;
  promptTokens: number;
  /** Extra latency drawn for this occurrence (the synchronous route sleeps it). */
  jitterMs: number;
  rng: Rng;
}

/**
 * Validates a chat body and counts its occurrence. Rejections (bad body, unknown model, streaming)
 * come back as a finished reply; the order of checks and draws is the contract that keeps the
 * synchronous route and batch lines identical.
 */
export function acceptChat(world: SimWorld, json: unknown): AcceptedChat | (ChatReply & { accepted: false }) {
  const none = { hash: '', occurrence: 0, model: '', kind: null, promptTokens: 0, completionTokens: 0, headers: {}, accepted: false as const };
  const parsed = ChatBody.safeParse(json);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    return { ...none, status: 400, outcome: 'bad_request', body: errorBody(`invalid request: ${i.path.join('.')}: ${i.message}`, 'invalid_request_error', null) };
  }
  const body = parsed.data;
  const messages = body.messages.map((m) => ({ role: m.role, content: m.content }));
  const params = { temperature: body.temperature ?? 1, topP: body.top_p ?? 1, maxTokens: body.max_tokens ?? 0, seed: body.seed ?? 0 };
  const hash = requestHash(body.model, messages, params);
  const n = (world.occurrences.get(hash) ?? 0) + 1;
  world.occurrences.set(hash, n);
  const base = { ...none, hash, occurrence: n, model: body.model };
  if (!world.hasModel(body.model)) {
    return { ...base, status: 404, outcome: 'unknown_model', body: errorBody(`The model \`${body.model}\` does not exist.`, 'NotFoundError', 404) };
  }
  if (body.stream) {
    return { ...base, status: 400, outcome: 'bad_request', body: errorBody('streaming is not supported by the r4ec simulator', 'invalid_request_error', null) };
  }
  const rng = new Rng(`${hash}|fault|${n}|${world.seed}`);
  // Drawn even where nobody sleeps it, so the fault draw below is the same in both routes.
  const jitterMs = world.faults.latencyJitterMs ? rng.next() * world.faults.latencyJitterMs : 0;
  return {
    accepted: true,
    model: body.model,
    messages,
    requestSeed: params.seed,
    hash,
    occurrence: n,
    promptTokens: messages.reduce((a, m) => a + approxTokens(m.content) + 4, 0),
    jitterMs,
    rng,
  };
}

/** The answer (or injected fault) for an accepted request. */
export function answerChat(world: SimWorld, req: AcceptedChat, nowSeconds = Math.floor(Date.now() / 1000)): ChatReply {
  const { faults } = world;
  const base = { hash: req.hash, occurrence: req.occurrence, model: req.model, promptTokens: req.promptTokens };
  const u = req.rng.next();
  const r429 = faults.rateLimitRate ?? 0;
  const r500 = faults.serverErrorRate ?? 0;
  const rBad = faults.malformedRate ?? 0;
  if (u < r429) {
    const ra = faults.retryAfterSeconds ?? 1;
    return {
      ...base,
      status: 429,
      outcome: 'rate_limited',
      kind: null,
      completionTokens: 0,
      body: errorBody('Rate limit reached (injected by the r4ec simulator).', 'rate_limit_error', 'rate_limit_exceeded'),
      headers: { 'retry-after': String(Math.max(0, Math.ceil(ra))), 'retry-after-ms': String(Math.round(ra * 1000)) },
    };
  }
  if (u < r429 + r500) {
    return { ...base, status: 500, outcome: 'server_error', kind: null, completionTokens: 0, headers: {}, body: errorBody('Internal server error (injected by the r4ec simulator).', 'server_error', null) };
  }
  const a = answer(req.messages, {
    catalog: world.catalog(),
    seed: world.seed,
    model: req.model,
    requestSeed: req.requestSeed,
    adapter: world.isAdapter(req.model),
    ...(world.behaviour ? { behaviour: world.behaviour } : {}),
  });
  let text = a.text;
  let outcome: SimOutcome = 'ok';
  if (u < r429 + r500 + rBad) {
    text = malformedAnswer(a.kind, a.text, req.rng);
    outcome = 'malformed';
  } else if (faults.sloppyRate && req.rng.next() < faults.sloppyRate) {
    text = sloppyAnswer(text, req.rng);
  }
  const completionTokens = approxTokens(text);
  return {
    ...base,
    status: 200,
    outcome,
    kind: a.kind ? kindLabel(a.kind) : null,
    completionTokens,
    headers: {},
    body: {
      id: `chatcmpl-r4ecsim-${req.hash.slice(0, 16)}-${req.occurrence}`,
      object: 'chat.completion',
      created: nowSeconds,
      model: req.model,
      system_fingerprint: SIMULATOR_OWNER,
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: req.promptTokens, completion_tokens: completionTokens, total_tokens: req.promptTokens + completionTokens },
    },
  };
}
