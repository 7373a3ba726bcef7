// Transport errors of an LLM call, classified once so every caller decides the same way:
// 429 / 5xx / timeouts / connection failures are retryable (Retry-After honoured); 400 / 401 / 403 /
// 404 / 422 are not, and name the endpoint and model (never the API key).
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
} from 'openai';
import { R4ecError } from '../errors';

export type LlmErrorKind =
  | 'rate_limited'
  | 'server_error'
  | 'timeout'
  | 'connection'
  | 'cancelled'
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'unprocessable'
  | 'other';

const RETRYABLE: ReadonlySet<LlmErrorKind> = new Set(['rate_limited', 'server_error', 'timeout', 'connection', 'other']);

/**
 * Code `LlmTransportError` (retryable; `retryAfterMs` from Retry-After / retry-after-ms when the
 * server sent one) or `LlmRequestRejected` (not retryable): the failure types workflows know.
 */
export class LlmError extends R4ecError {
  declare readonly code: 'LlmTransportError' | 'LlmRequestRejected';
  readonly kind: LlmErrorKind;
  readonly status: number | undefined;
  readonly endpoint: string;
  readonly model: string;
  constructor(opts: { kind: LlmErrorKind; message: string; status?: number; retryAfterMs?: number; endpoint: string; model: string }) {
    const retryable = RETRYABLE.has(opts.kind);
    super(opts.message, retryable ? 'LlmTransportError' : 'LlmRequestRejected', { retryable, retryAfterMs: opts.retryAfterMs });
    this.name = 'LlmError';
    this.kind = opts.kind;
    this.status = opts.status;
    this.endpoint = opts.endpoint;
    this.model = opts.model;
  }

  override details(): Record<string, unknown> {
    return { kind: this.kind, status: this.status ?? null, endpoint: this.endpoint, model: this.model };
  }
}

/** Retry-After as seconds or an HTTP date; retry-after-ms (OpenAI's) wins when present. */
export function parseRetryAfter(headers: Headers | Record<string, string | undefined> | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const get = (k: string): string | undefined =>
    headers instanceof Headers ? (headers.get(k) ?? undefined) : (headers[k] ?? headers[k.toLowerCase()]);
  const ms = get('retry-after-ms');
  if (ms !== undefined && ms !== '' && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const ra = get('retry-after');
  if (ra === undefined || ra === '') return undefined;
  if (/^\d+(?:\.\d+)?$/.test(ra.trim())) return Math.max(0, Number(ra) * 1000);
  const at = Date.parse(ra);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function kindOfStatus(status: number): LlmErrorKind {
  if (status === 429) return 'rate_limited';
  if (status === 408) return 'timeout';
  if (status >= 500) return 'server_error';
  if (status === 400) return 'bad_request';
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 422) return 'unprocessable';
  if (status === 409) return 'server_error';
  return 'other';
}

const HINT: Partial<Record<LlmErrorKind, string>> = {
  unauthorized: 'check that the API key env var named in config (apiKeyEnv) is set for the llm worker',
  not_found: 'check the base URL and that the model (or LoRA adapter) is served there',
  bad_request: 'the endpoint rejected the request parameters',
};

/** Removes a secret from any text that might carry it (error bodies echoing headers, etc.). */
export function scrub(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}

export function classifyError(err: unknown, ctx: { endpoint: string; model: string; secrets?: readonly (string | undefined)[] }): LlmError {
  if (err instanceof LlmError) return err;
  const where = `${ctx.endpoint} (model ${ctx.model})`;
  const clean = (s: string) => scrub(s, ctx.secrets ?? []);
  if (err instanceof APIUserAbortError) {
    return new LlmError({ kind: 'cancelled', message: `LLM request to ${where} was cancelled`, ...ctx });
  }
  if (err instanceof APIConnectionTimeoutError) {
    return new LlmError({ kind: 'timeout', message: `LLM request to ${where} timed out`, ...ctx });
  }
  if (err instanceof APIConnectionError) {
    return new LlmError({ kind: 'connection', message: clean(`cannot reach LLM endpoint ${where}: ${err.message}`), ...ctx });
  }
  if (err instanceof APIError && typeof err.status === 'number') {
    const kind = kindOfStatus(err.status);
    const hint = HINT[kind] ? ` (${HINT[kind]})` : '';
    const retryAfterMs = parseRetryAfter(err.headers);
    return new LlmError({
      kind,
      status: err.status,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      message: clean(`LLM endpoint ${where} answered ${err.status}: ${err.message}${hint}`),
      ...ctx,
    });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new LlmError({ kind: 'other', message: clean(`LLM request to ${where} failed: ${msg}`), ...ctx });
}
