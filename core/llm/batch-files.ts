// What goes into and comes out of a Batch API file. An item is one request the synchronous path
// would send (same model, messages and sampling parameters), serialisable so an orchestrator can
// keep a round's items in the store. Its line's custom_id is the request hash, i.e. the key of the
// LLM answer cache, so an answer found in a batch lands exactly where a synchronous call would
// have put it, and identical requests in one round are sent once.
import { z } from 'zod';
import { sha256 } from '../util/hash';
import { chatCompletionBody } from './request';
import { ChatMessageSchema, type ChatMessage, type SamplingParams } from './types';

/** The only endpoint r4ec batches. */
export const BATCH_ENDPOINT = '/v1/chat/completions';
/** OpenAI's limits per batch input file (bytes are counted conservatively as 10^6 per MB). */
export const MAX_REQUESTS_PER_FILE = 50_000;
export const MAX_BYTES_PER_FILE = 200_000_000;

export const CallMetaSchema = z.object({
  runId: z.string(),
  stage: z.string(),
  role: z.string(),
  domain: z.string().optional(),
  entityId: z.string().optional(),
});

export const BatchItemSchema = z.object({
  /** The caller's id for the unit of work (unique within a round), e.g. `<inference>/reflect`. */
  id: z.string().min(1),
  messages: z.array(ChatMessageSchema).min(1),
  seed: z.number().int(),
  /** Another model on the endpoint; absent = the endpoint's model. */
  model: z.string().min(1).optional(),
  params: z.object({ temperature: z.number(), topP: z.number(), maxTokens: z.number().int() }).partial().optional(),
  /** Hashes of the earlier requests of this item's re-ask chain, whose answers did not parse. */
  chain: z.array(z.string()).optional(),
  /** Unparsable answers so far (0 for a first ask). */
  formatAttempts: z.number().int().min(0).optional(),
  /** Failed deliveries so far (error lines, expired or cancelled lines, lines missing from a finished batch). */
  transportAttempts: z.number().int().min(0).optional(),
  meta: CallMetaSchema.optional(),
});
export type BatchItem = z.infer<typeof BatchItemSchema>;

/** What identifies a batch among the account's batches: looked up before any create. */
export interface BatchScope {
  runId: string;
  stage: string;
  domain?: string;
  /** 1 = first asks; later rounds hold re-asks and resubmissions. */
  round: number;
}

export interface BatchFile {
  /** 0-based part of the round. */
  part: number;
  parts: number;
  /** sha256 of the file's bytes: the same requests give the same file. */
  contentHash: string;
  bytes: number;
  /** One per line, in line order: the request hashes. */
  customIds: string[];
  data: Buffer;
}

export interface ResolvedRequest {
  model: string;
  messages: ChatMessage[];
  params: SamplingParams;
  hash: string;
}

/** The JSONL line of one request. */
export function batchLine(r: ResolvedRequest): string {
  return JSON.stringify({ custom_id: r.hash, method: 'POST', url: BATCH_ENDPOINT, body: chatCompletionBody(r.model, r.messages, r.params) });
}

/**
 * Splits requests into files of at most `maxRequests` lines and `maxBytes` bytes. Lines are
 * de-duplicated by hash and sorted by it, so the same set of requests always gives the same files
 * (and so the same content hashes a restarted caller looks for).
 */
export function packBatchFiles(requests: Iterable<ResolvedRequest>, limits: { maxRequests?: number; maxBytes?: number } = {}): BatchFile[] {
  const maxRequests = Math.min(limits.maxRequests ?? MAX_REQUESTS_PER_FILE, MAX_REQUESTS_PER_FILE);
  const maxBytes = Math.min(limits.maxBytes ?? MAX_BYTES_PER_FILE, MAX_BYTES_PER_FILE);
  const lines = new Map<string, string>();
  for (const r of requests) if (!lines.has(r.hash)) lines.set(r.hash, batchLine(r));
  const sorted = [...lines.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const groups: Array<Array<[string, string]>> = [];
  let cur: Array<[string, string]> = [];
  let bytes = 0;
  for (const [hash, line] of sorted) {
    const size = Buffer.byteLength(line) + 1;
    if (size > maxBytes) throw new Error(`batch request ${hash} is ${size} bytes, more than the ${maxBytes} bytes a batch file may hold`);
    if (cur.length >= maxRequests || bytes + size > maxBytes) {
      groups.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push([hash, line]);
    bytes += size;
  }
  if (cur.length > 0) groups.push(cur);
  return groups.map((g, part) => {
    const data = Buffer.from(g.map(([, l]) => l).join('\n') + '\n');
    return { part, parts: groups.length, contentHash: sha256(data), bytes: data.length, customIds: g.map(([h]) => h), data };
  });
}

const clip = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, n - 17)}~${sha256(s).slice(0, 16)}`);

/** Batch metadata (OpenAI: at most 16 pairs, keys ≤ 64 and values ≤ 512 characters). */
export function batchMetadata(scope: BatchScope, file: Pick<BatchFile, 'part' | 'parts' | 'contentHash' | 'customIds'>): Record<string, string> {
  return {
    r4ec_run: clip(scope.runId, 512),
    r4ec_stage: clip(scope.stage, 512),
    r4ec_domain: scope.domain ?? '-',
    r4ec_round: String(scope.round),
    r4ec_part: String(file.part),
    r4ec_parts: String(file.parts),
    r4ec_requests: String(file.customIds.length),
    r4ec_content: file.contentHash,
  };
}

/** Whether a batch's metadata names this scope and file (the keys that identify it). */
export function metadataMatches(meta: Record<string, unknown> | null | undefined, want: Record<string, string>): boolean {
  if (!meta) return false;
  return (['r4ec_run', 'r4ec_stage', 'r4ec_domain', 'r4ec_round', 'r4ec_part', 'r4ec_content'] as const).every((k) => meta[k] === want[k]);
}

/** A line of a batch output or error file (OpenAI's shape). */
export const BatchOutputLineSchema = z.object({
  id: z.string(),
  custom_id: z.string(),
  response: z
    .object({
      status_code: z.number().int(),
      request_id: z.string().nullish(),
      body: z.unknown(),
    })
    .nullable(),
  error: z.object({ code: z.string().nullish(), message: z.string().nullish() }).nullable(),
});
export type BatchOutputLine = z.infer<typeof BatchOutputLineSchema>;

const ChatCompletionSchema = z.object({
  choices: z.array(z.object({ message: z.object({ content: z.string().nullish() }).passthrough() }).passthrough()).min(1),
  usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number() }).passthrough().nullish(),
});
const ErrorBodySchema = z.object({ error: z.object({ message: z.string().nullish(), code: z.union([z.string(), z.number()]).nullish() }).passthrough() });

/** A line as an answer or a failed delivery. */
export type LineResult =
  | { kind: 'answer'; text: string; promptTokens: number; completionTokens: number }
  | { kind: 'error'; status: number | null; code: string; message: string; retryable: boolean };

export function readLine(line: BatchOutputLine, where: string): LineResult {
  const r = line.response;
  if (r && r.status_code === 200) {
    const body = ChatCompletionSchema.safeParse(r.body);
    if (!body.success) return { kind: 'error', status: 200, code: 'bad_response', message: `${where}: a 200 response without a chat completion`, retryable: true };
    return {
      kind: 'answer',
      text: body.data.choices[0]!.message.content ?? '',
      promptTokens: body.data.usage?.prompt_tokens ?? 0,
      completionTokens: body.data.usage?.completion_tokens ?? 0,
    };
  }
  if (r) {
    const e = ErrorBodySchema.safeParse(r.body);
    const status = r.status_code;
    return {
      kind: 'error',
      status,
      code: e.success && e.data.error.code !== null && e.data.error.code !== undefined ? String(e.data.error.code) : `http_${status}`,
      message: `${where}: answered ${status}${e.success && e.data.error.message ? `: ${e.data.error.message}` : ''}`,
      // The same rule as a synchronous call: rate limits, timeouts and server errors pass; the request's own faults do not.
      retryable: status === 408 || status === 409 || status === 429 || status >= 500,
    };
  }
  const code = line.error?.code ?? 'unknown';
  // batch_expired, batch_cancelled, request_timeout: the request itself was never judged.
  return { kind: 'error', status: null, code, message: `${where}: ${code}${line.error?.message ? `: ${line.error.message}` : ''}`, retryable: true };
}

/** The non-empty lines of a streamed body, with 1-based line numbers. */
export async function* jsonlLines(body: ReadableStream<Uint8Array> | null): AsyncGenerator<{ line: number; text: string }> {
  if (!body) return;
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += value;
    let start = 0;
    for (let i = buf.indexOf('\n', start); i >= 0; i = buf.indexOf('\n', start)) {
      n++;
      const text = buf.slice(start, i);
      start = i + 1;
      if (text.trim() !== '') yield { line: n, text };
    }
    buf = buf.slice(start);
  }
  if (buf.trim() !== '') yield { line: n + 1, text: buf };
}
