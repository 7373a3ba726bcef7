// One parsed LLM call from a prompt spec, and the transport retry policy run in-process: what the
// batch activities use for every call, with the same client (cache, limiter, ledger), the same
// parser and correction turns as the callLlm activity, and the same retry budget as its Temporal
// retry policy (attempts, backoff, Retry-After).
import type { R4ecConfig } from '../../config/schema';
import { buildPrompt, promptKindOf, type PromptSpec } from '../prompts/builders';
import type { AskResult, CallMeta, LlmClient } from './client';
import { LlmError } from './errors';
import { abortableSleep } from './limiter';
import { correctionTurn, parseAnswer, type ParsedAnswer } from './parse';

export type TransportPolicy = R4ecConfig['llm']['transport'];

export interface AskPromptRequest {
  prompt: PromptSpec;
  seed: number;
  /** Another model on the role's endpoint (a fine-tuned adapter). */
  model?: string | undefined;
  formatRetries: number;
  signal?: AbortSignal;
  meta?: CallMeta;
  /** Called at once when the endpoint rejects the request for good (LlmClient `onRejected`). */
  onRejected?: (err: LlmError) => void;
}

/** Builds the messages, asks (cache first), parses; an unparsable answer is re-asked, then `failed_format`. */
export function askPrompt(client: LlmClient, req: AskPromptRequest): Promise<AskResult<ParsedAnswer>> {
  const kind = promptKindOf(req.prompt);
  return client.ask({
    messages: buildPrompt(req.prompt),
    seed: req.seed,
    ...(req.model ? { model: req.model } : {}),
    parse: (text) => parseAnswer(kind, text),
    correction: (err) => correctionTurn(kind, err),
    formatRetries: req.formatRetries,
    ...(req.signal ? { signal: req.signal } : {}),
    ...(req.meta ? { meta: req.meta } : {}),
    ...(req.onRejected ? { onRejected: req.onRejected } : {}),
  });
}

/** The delay before attempt `attempt + 1`: Retry-After when the server sent one, else the backoff. */
export function retryDelayMs(policy: TransportPolicy, attempt: number, retryAfterMs: number | undefined): number {
  if (retryAfterMs !== undefined) return retryAfterMs;
  return Math.min(policy.maximumIntervalMs, policy.initialIntervalMs * policy.backoffCoefficient ** (attempt - 1));
}

/**
 * Runs `fn` until it succeeds, a non-retryable error is thrown, or `maxAttempts` attempts failed
 * with retryable transport errors (the last one is thrown). Any other error is thrown at once.
 */
export async function withTransportRetries<T>(policy: TransportPolicy, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof LlmError) || !e.retryable || attempt >= policy.maxAttempts || signal?.aborted) throw e;
      await abortableSleep(retryDelayMs(policy, attempt, e.retryAfterMs), signal);
    }
  }
}
