// The one LLM client (teacher, actor, reflection) over the `openai` package, for any
// OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server, the simulator).
//
// `chat` sends one request. `ask` is what stages use: cache lookup → request → parse → cache the
// parsed answer; an unparsable answer is re-asked with a correction turn appended (a new request,
// never a cache hit), up to `formatRetries` times. Transport errors are classified (LlmError) and
// thrown, so the caller's retry policy (Temporal) decides; `transportRetries` retries in-process
// for scripts and benches that run without Temporal.
import OpenAI from 'openai';
import type { EndpointConfig } from '../../config/schema';
import { requestHash, type LlmCache } from './cache';
import { classifyError, LlmError } from './errors';
import { httpFetch } from './http-fetch';
import { abortableSleep, endpointLimiter, type EndpointLimiter } from './limiter';
import { FormatError } from './parse';
import { chatCompletionBody, reaskMessages } from './request';
import type { ChatMessage, SamplingParams, TokenUsage } from './types';
import type { LlmUsage } from '../rules/usage';
import { zeroUsage } from '../rules/usage';
import { addRecord, type UsageLedger, type UsageRecord } from './usage';

export interface LlmClientOptions {
  endpoint: EndpointConfig;
  /** Where the API key is read from, by the name in `endpoint.apiKeyEnv` (the worker's env). */
  env?: NodeJS.ProcessEnv;
  cache?: LlmCache;
  ledger?: UsageLedger;
  limiter?: EndpointLimiter;
  /** For tests: a fetch implementation handed to the openai package. */
  fetch?: typeof fetch;
}

export interface ChatRequest {
  messages: ChatMessage[];
  seed: number;
  /** Another model on the same endpoint, e.g. a LoRA adapter name. */
  model?: string;
  params?: Partial<Omit<SamplingParams, 'seed'>>;
  signal?: AbortSignal;
  /**
   * Called at once (before the endpoint's slot goes to the next request) when the endpoint rejects
   * the request for good (400/401/403/404/422): a caller running many requests stops the others.
   */
  onRejected?: (err: LlmError) => void;
}

export interface ChatResponse {
  text: string;
  usage: TokenUsage;
  requestHash: string;
  model: string;
  latencyMs: number;
}

/** Who is calling, for the usage ledger. */
export interface CallMeta {
  runId: string;
  stage: string;
  role: string;
  domain?: string;
  entityId?: string;
}

export interface AskRequest<T> extends ChatRequest {
  parse: (text: string) => T;
  /** The correction turn appended after a FormatError. */
  correction: (error: FormatError) => string;
  formatRetries: number;
  /** In-process retries of retryable transport errors (default 0: the caller retries). */
  transportRetries?: number;
  meta?: CallMeta;
}

export type AskResult<T> =
  | {
      status: 'ok';
      value: T;
      text: string;
      model: string;
      requestHash: string;
      cacheHit: boolean;
      /** Requests (or cache hits) it took: 1 + re-asks. */
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

const NO_KEY = 'sk-no-key-configured';

export class LlmClient {
  readonly endpoint: EndpointConfig;
  readonly limiter: EndpointLimiter;
  private readonly openai: OpenAI;
  private readonly apiKey: string | undefined;
  private readonly cache: LlmCache | undefined;
  private readonly ledger: UsageLedger | undefined;

  constructor(opts: LlmClientOptions) {
    this.endpoint = opts.endpoint;
    const env = opts.env ?? {};
    this.apiKey = opts.endpoint.apiKeyEnv ? env[opts.endpoint.apiKeyEnv] : undefined;
    if (opts.endpoint.apiKeyEnv && !this.apiKey) {
      throw new LlmError({
        kind: 'unauthorized',
        message: `the env var ${opts.endpoint.apiKeyEnv} (apiKeyEnv for ${opts.endpoint.baseUrl}, model ${opts.endpoint.model}) is not set in this worker's environment`,
        endpoint: opts.endpoint.baseUrl,
        model: opts.endpoint.model,
      });
    }
    this.openai = new OpenAI({
      baseURL: opts.endpoint.baseUrl,
      // Local servers need no key; the package insists on one, so a placeholder is sent.
      apiKey: this.apiKey ?? NO_KEY,
      timeout: opts.endpoint.timeoutMs,
      maxRetries: 0,
      fetch: opts.fetch ?? httpFetch,
    });
    this.cache = opts.cache;
    this.ledger = opts.ledger;
    this.limiter =
      opts.limiter ??
      endpointLimiter(opts.endpoint.baseUrl, { concurrency: opts.endpoint.concurrency, requestsPerMinute: opts.endpoint.requestsPerMinute });
  }

  /** The openai package's client for this endpoint, for the Files and Batch APIs (batch.ts). */
  get api(): OpenAI {
    return this.openai;
  }

  /** The API key's value, so errors of other calls on this endpoint can be scrubbed of it. */
  get secrets(): readonly (string | undefined)[] {
    return [this.apiKey];
  }

  params(req: Pick<ChatRequest, 'seed' | 'params'>): SamplingParams {
    return {
      temperature: req.params?.temperature ?? this.endpoint.temperature,
      topP: req.params?.topP ?? this.endpoint.topP,
      maxTokens: req.params?.maxTokens ?? this.endpoint.maxTokens,
      seed: req.seed,
    };
  }

  modelFor(req: Pick<ChatRequest, 'model'>): string {
    return req.model ?? this.endpoint.model;
  }

  hashOf(req: ChatRequest): string {
    return requestHash(this.modelFor(req), req.messages, this.params(req));
  }

  /** One request, no cache. Throws LlmError. */
  chat(req: ChatRequest): Promise<ChatResponse> {
    return this.send(req, this.hashOf(req));
  }

  /**
   * One request in an endpoint slot. `settle` runs in the same slot once the answer is in, so what it
   * stores (the answer cache) is stored before the slot counts as free: a worker killed at any moment
   * has at most `concurrency` answered requests whose answers are not in the cache.
   */
  private send(req: ChatRequest, hash: string, settle?: (res: ChatResponse) => Promise<void>): Promise<ChatResponse> {
    const model = this.modelFor(req);
    const params = this.params(req);
    return this.limiter.run(async () => {
      // A caller that gave up while waiting for a slot sends nothing.
      if (req.signal?.aborted) throw new LlmError({ kind: 'cancelled', message: `LLM request to ${this.endpoint.baseUrl} (model ${model}) was cancelled`, endpoint: this.endpoint.baseUrl, model });
      const started = Date.now();
      let res: ChatResponse;
      try {
        const r = await this.openai.chat.completions.create(chatCompletionBody(model, req.messages, params), req.signal ? { signal: req.signal } : undefined);
        res = {
          text: r.choices[0]?.message?.content ?? '',
          usage: { promptTokens: r.usage?.prompt_tokens ?? 0, completionTokens: r.usage?.completion_tokens ?? 0 },
          requestHash: hash,
          model,
          latencyMs: Date.now() - started,
        };
      } catch (e) {
        const err = classifyError(e, { endpoint: this.endpoint.baseUrl, model, secrets: [this.apiKey] });
        if (err.kind === 'rate_limited' && err.retryAfterMs !== undefined) this.limiter.pause(err.retryAfterMs);
        if (!err.retryable && err.kind !== 'cancelled') req.onRejected?.(err);
        throw err;
      }
      if (settle) await settle(res);
      return res;
    }, req.signal);
  }

  private async chatWithRetries(req: ChatRequest, hash: string, retries: number, settle?: (res: ChatResponse) => Promise<void>): Promise<ChatResponse> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.send(req, hash, settle);
      } catch (e) {
        const err = e as LlmError;
        if (!(err instanceof LlmError) || !err.retryable || attempt >= retries) throw err;
        const backoff = Math.min(30_000, 250 * 2 ** attempt);
        await abortableSleep(err.retryAfterMs ?? backoff, req.signal);
      }
    }
  }

  private async record(meta: CallMeta | undefined, r: Omit<UsageRecord, 'at' | keyof CallMeta | 'domain' | 'entityId'>): Promise<void> {
    if (!meta || !this.ledger) return;
    await this.ledger.append({
      at: new Date().toISOString(),
      runId: meta.runId,
      stage: meta.stage,
      role: meta.role,
      ...(meta.domain !== undefined ? { domain: meta.domain } : {}),
      ...(meta.entityId !== undefined ? { entityId: meta.entityId } : {}),
      ...r,
    });
  }

  async ask<T>(req: AskRequest<T>): Promise<AskResult<T>> {
    const model = this.modelFor(req);
    const usage = zeroUsage();
    let messages = req.messages;
    let lastText = '';
    let lastError: FormatError | undefined;
    /** Hashes of earlier requests in this re-ask chain, whose answers did not parse. */
    const chain: string[] = [];
    for (let attempt = 1; attempt <= req.formatRetries + 1; attempt++) {
      const conversation: ChatRequest = { ...req, messages };
      const hash = this.hashOf(conversation);
      const cached = this.cache ? await this.cache.peek(hash) : undefined;
      if (cached) {
        try {
          const value = req.parse(cached.text);
          this.cache!.hits++;
          addRecord(usage, { cacheHit: true, promptTokens: 0, completionTokens: 0 });
          await this.record(req.meta, { model, requestHash: hash, cacheHit: true, outcome: 'ok', promptTokens: 0, completionTokens: 0, latencyMs: 0 });
          return { status: 'ok', value, text: cached.text, model, requestHash: hash, cacheHit: true, formatAttempts: attempt, usage };
        } catch (e) {
          // The parser changed and no longer accepts this text: ask again.
          if (!(e instanceof FormatError)) throw e;
        }
      }
      if (this.cache) this.cache.misses++;
      // Parsed, and a parsed answer cached, inside the request's endpoint slot (see `send`); its usage
      // record is written meanwhile and awaited after the slot is free.
      let parsed: { ok: true; value: T } | { ok: false; error: FormatError } | undefined;
      let recorded: Promise<void> | undefined;
      const settle = async (r: ChatResponse): Promise<void> => {
        try {
          parsed = { ok: true, value: req.parse(r.text) };
        } catch (e) {
          if (!(e instanceof FormatError)) throw e;
          parsed = { ok: false, error: e };
          return;
        }
        recorded = this.record(req.meta, { model, requestHash: hash, cacheHit: false, outcome: 'ok', ...r.usage, latencyMs: r.latencyMs });
        // Awaited below; until then a failure must not surface as an unhandled rejection.
        recorded.catch(() => undefined);
        // The parsed answer is the answer to the original prompt too: a rerun finds it at once
        // instead of re-sending requests whose answers could not be used.
        if (this.cache) await Promise.all([hash, ...chain].map((h) => this.cache!.put(h, model, r.text, r.usage)));
      };
      let res: ChatResponse;
      try {
        res = await this.chatWithRetries(conversation, hash, req.transportRetries ?? 0, settle);
      } catch (e) {
        if (recorded) await recorded.catch(() => undefined);
        if (e instanceof LlmError && e.kind !== 'cancelled') {
          await this.record(req.meta, { model, requestHash: hash, cacheHit: false, outcome: 'transport_error', promptTokens: 0, completionTokens: 0, latencyMs: 0 });
        }
        throw e;
      }
      addRecord(usage, { cacheHit: false, ...res.usage });
      if (!parsed!.ok) {
        await this.record(req.meta, { model, requestHash: hash, cacheHit: false, outcome: 'format_error', ...res.usage, latencyMs: res.latencyMs });
        lastText = res.text;
        lastError = parsed!.error;
        chain.push(hash);
        messages = reaskMessages(messages, res.text, req.correction(parsed!.error));
        continue;
      }
      await recorded;
      return { status: 'ok', value: parsed!.value, text: res.text, model, requestHash: hash, cacheHit: false, formatAttempts: attempt, usage };
    }
    return {
      status: 'failed_format',
      error: lastError?.message ?? 'unparsable answer',
      code: lastError?.code ?? 'empty',
      lastText,
      model,
      formatAttempts: req.formatRetries + 1,
      usage,
    };
  }
}
