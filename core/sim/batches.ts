// The simulator's Batch API (`/v1/batches`), in OpenAI's shapes: an uploaded JSONL file of chat
// requests becomes a batch that goes validating → in_progress → finalizing → completed (or
// failed, expired, cancelling → cancelled) and leaves an output file and an error file whose lines
// are `{id, custom_id, response: {status_code, request_id, body}, error}`.
//
// Every line is answered by the same code as a synchronous request (chat.ts), so it draws the same
// fault for the same (request, occurrence): malformed answers, 429 and 500 lines. A batch can be
// told to expire (`expireBatches`: the n-th batch created; `expireRate`): it answers only the first
// `expiredFraction` of its lines and reports the rest as `batch_expired`. Batches and files are
// kept under `dir` when one is given, so a restarted simulator still knows them (one that was in
// progress is answered again from the start).
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { acceptChat, answerChat, type ChatReply, type SimWorld } from './chat';
import { invalid, notFound, reply, SimFiles, writeAtomic, MAX_BATCH_FILE_BYTES, type Reply } from './files';
import { Rng } from './rng';

/** OpenAI's limit for one batch. */
export const MAX_BATCH_REQUESTS = 50_000;
const DAY_SECONDS = 24 * 3600;
const YIELD_EVERY = 64;

export interface SimBatchOptions {
  /** Where batches and files are kept across restarts; absent = memory only. */
  dir?: string;
  /** Time from creation until a batch finishes (its stand-in for the 24 h window). Default 0. */
  completionDelayMs?: number;
  /** Time a batch stays `validating`. Default 0. */
  validatingMs?: number;
  /** Time a batch stays `finalizing`. Default 0. */
  finalizingMs?: number;
  /** 1-based creation ordinals of the batches that expire (counted across restarts when `dir` is set). */
  expireBatches?: readonly number[];
  /** Share of batches that expire, drawn per batch from the simulator seed. Default 0. */
  expireRate?: number;
  /** Share of an expiring batch's lines answered before it expires. Default 0.5. */
  expiredFraction?: number;
  maxRequestsPerFile?: number;
  maxFileBytes?: number;
}

const BatchErrorSchema = z.object({ code: z.string(), message: z.string(), param: z.string().nullable(), line: z.number().int().nullable() });
const BatchSchema = z.object({
  id: z.string(),
  object: z.literal('batch'),
  endpoint: z.string(),
  model: z.string().nullable(),
  errors: z.object({ object: z.literal('list'), data: z.array(BatchErrorSchema) }).nullable(),
  input_file_id: z.string(),
  completion_window: z.string(),
  status: z.enum(['validating', 'failed', 'in_progress', 'finalizing', 'completed', 'expired', 'cancelling', 'cancelled']),
  output_file_id: z.string().nullable(),
  error_file_id: z.string().nullable(),
  created_at: z.number().int(),
  in_progress_at: z.number().int().nullable(),
  expires_at: z.number().int(),
  finalizing_at: z.number().int().nullable(),
  completed_at: z.number().int().nullable(),
  failed_at: z.number().int().nullable(),
  expired_at: z.number().int().nullable(),
  cancelling_at: z.number().int().nullable(),
  cancelled_at: z.number().int().nullable(),
  request_counts: z.object({ total: z.number().int(), completed: z.number().int(), failed: z.number().int() }),
  usage: z.object({
    input_tokens: z.number().int(),
    input_tokens_details: z.object({ cached_tokens: z.number().int() }),
    output_tokens: z.number().int(),
    output_tokens_details: z.object({ reasoning_tokens: z.number().int() }),
    total_tokens: z.number().int(),
  }),
  metadata: z.record(z.string(), z.string()).nullable(),
});
export type SimBatch = z.infer<typeof BatchSchema>;
type Status = SimBatch['status'];

const StoredSchema = z.object({ batch: BatchSchema, ordinal: z.number().int(), expire: z.boolean(), createdAtMs: z.number() });

const CreateBody = z.object({
  input_file_id: z.string().min(1),
  endpoint: z.string().min(1),
  completion_window: z.string().min(1),
  metadata: z.record(z.string(), z.unknown()).nullable().optional(),
  output_expires_after: z.unknown().optional(),
});

const InputLine = z.object({
  custom_id: z.string().min(1),
  method: z.literal('POST'),
  url: z.string(),
  body: z.record(z.string(), z.unknown()),
});
type Line = z.infer<typeof InputLine>;

const TERMINAL: ReadonlySet<Status> = new Set(['failed', 'completed', 'expired', 'cancelled']);

export interface BatchLineLog {
  batchId: string;
  customId: string;
  reply: ChatReply;
}

interface Running {
  batch: SimBatch;
  ordinal: number;
  expire: boolean;
  createdAtMs: number;
  cancelRequested: boolean;
  wake: (() => void) | undefined;
}

const now = () => Math.floor(Date.now() / 1000);
const hex = (n: number) => randomBytes(n).toString('hex');

export class SimBatches {
  readonly files: SimFiles;
  private readonly batches = new Map<string, Running>();
  private readonly opts: Required<Omit<SimBatchOptions, 'dir' | 'expireBatches'>> & { expireBatches: ReadonlySet<number> };
  private readonly dir: string | undefined;
  private closed = false;
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly world: SimWorld,
    private readonly logLine: (e: BatchLineLog) => void,
    opts: SimBatchOptions = {},
  ) {
    this.dir = opts.dir;
    this.files = new SimFiles(opts.dir ? join(opts.dir, 'files') : undefined, opts.maxFileBytes ?? MAX_BATCH_FILE_BYTES);
    this.opts = {
      completionDelayMs: opts.completionDelayMs ?? 0,
      validatingMs: opts.validatingMs ?? 0,
      finalizingMs: opts.finalizingMs ?? 0,
      expireBatches: new Set(opts.expireBatches ?? []),
      expireRate: opts.expireRate ?? 0,
      expiredFraction: opts.expiredFraction ?? 0.5,
      maxRequestsPerFile: opts.maxRequestsPerFile ?? MAX_BATCH_REQUESTS,
      maxFileBytes: opts.maxFileBytes ?? MAX_BATCH_FILE_BYTES,
    };
  }

  /** Loads persisted batches and files; batches that were not finished are worked on again. */
  async load(): Promise<void> {
    await this.files.load();
    if (!this.dir) return;
    const dir = join(this.dir, 'batches');
    await mkdir(dir, { recursive: true });
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.json')) continue;
      const s = StoredSchema.parse(JSON.parse(await readFile(join(dir, name), 'utf8')));
      const r: Running = { ...s, cancelRequested: s.batch.status === 'cancelling', wake: undefined };
      this.batches.set(s.batch.id, r);
      if (!TERMINAL.has(s.batch.status)) this.start(r);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const r of this.batches.values()) r.wake?.();
    await Promise.allSettled([...this.running]);
  }

  private start(r: Running): void {
    const p = this.work(r)
      .catch(async (e: unknown) => {
        if (this.closed) return;
        // A simulator bug must not look like a batch that never ends.
        await this.set(r, 'failed', { failed_at: now(), errors: { object: 'list', data: [{ code: 'simulator_error', message: String((e as Error).message), param: null, line: null }] } }).catch(() => undefined);
      })
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }

  private async persist(r: Running): Promise<void> {
    if (!this.dir) return;
    await writeAtomic(join(this.dir, 'batches', `${r.batch.id}.json`), JSON.stringify({ batch: r.batch, ordinal: r.ordinal, expire: r.expire, createdAtMs: r.createdAtMs }));
  }

  private set(r: Running, status: Status, extra: Partial<SimBatch> = {}): Promise<void> {
    r.batch = { ...r.batch, ...extra, status };
    return this.persist(r);
  }

  /** Sleeps, waking early on cancel or close. */
  private pause(r: Running, ms: number): Promise<void> {
    if (ms <= 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        r.wake = undefined;
        resolve();
      }
      r.wake = done;
    });
  }

  private async work(r: Running): Promise<void> {
    if (r.batch.status === 'validating') await this.pause(r, this.opts.validatingMs);
    if (this.closed) return;
    const input = await this.files.content(r.batch.input_file_id);
    const parsed = parseInput(input?.toString('utf8') ?? '', r.batch.endpoint);
    if (parsed.errors.length > 0) {
      await this.set(r, 'failed', { failed_at: now(), errors: { object: 'list', data: parsed.errors.slice(0, 100) } });
      return;
    }
    const lines = parsed.lines;
    if (!r.cancelRequested) await this.set(r, 'in_progress', { in_progress_at: r.batch.in_progress_at ?? now(), model: lines[0]?.body.model as string, request_counts: { total: lines.length, completed: 0, failed: 0 } });
    const answerable = r.expire ? Math.floor(lines.length * this.opts.expiredFraction) : lines.length;
    const out: string[] = [];
    const err: string[] = [];
    const counts = { total: lines.length, completed: 0, failed: 0 };
    const usage = { input: 0, output: 0 };
    let i = 0;
    for (; i < answerable && !r.cancelRequested && !this.closed; i++) {
      const line = lines[i]!;
      const accepted = acceptChat(this.world, line.body);
      const res = accepted.accepted ? answerChat(this.world, accepted) : accepted;
      this.logLine({ batchId: r.batch.id, customId: line.custom_id, reply: res });
      const response = { status_code: res.status, request_id: `req_${hex(12)}`, body: res.body };
      (res.status === 200 ? out : err).push(JSON.stringify({ id: `batch_req_${hex(12)}`, custom_id: line.custom_id, response, error: null }));
      if (res.status === 200) counts.completed++;
      else counts.failed++;
      usage.input += res.status === 200 ? res.promptTokens : 0;
      usage.output += res.completionTokens;
      if ((i + 1) % YIELD_EVERY === 0) {
        r.batch = { ...r.batch, request_counts: { ...counts } };
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    if (this.closed) return;
    if (!r.cancelRequested) await this.pause(r, r.createdAtMs + this.opts.completionDelayMs - Date.now());
    if (this.closed) return;
    const ending: 'cancelled' | 'expired' | 'completed' = r.cancelRequested ? 'cancelled' : r.expire ? 'expired' : 'completed';
    const unanswered =
      ending === 'cancelled'
        ? { code: 'batch_cancelled', message: 'This request was not executed because the batch was cancelled.' }
        : { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' };
    for (; i < lines.length; i++) {
      err.push(JSON.stringify({ id: `batch_req_${hex(12)}`, custom_id: lines[i]!.custom_id, response: null, error: unanswered }));
      counts.failed++;
    }
    if (ending === 'completed') {
      await this.set(r, 'finalizing', { finalizing_at: now(), request_counts: { ...counts } });
      await this.pause(r, this.opts.finalizingMs);
      if (this.closed) return;
    }
    // Output order is not input order at OpenAI either: clients must match lines by custom_id.
    const rng = new Rng(`batch-order|${r.batch.id}`);
    const shuffle = (xs: string[]) => xs.map((x) => [rng.next(), x] as const).sort((a, b) => a[0] - b[0]).map((p) => p[1]);
    const base = r.batch.input_file_id;
    const outFile = out.length > 0 ? await this.files.add(`${base}_output.jsonl`, 'batch_output', Buffer.from(shuffle(out).join('\n') + '\n')) : undefined;
    const errFile = err.length > 0 ? await this.files.add(`${base}_error.jsonl`, 'batch_output', Buffer.from(shuffle(err).join('\n') + '\n')) : undefined;
    const stamp = ending === 'completed' ? { completed_at: now() } : ending === 'expired' ? { expired_at: now() } : { cancelled_at: now() };
    await this.set(r, ending, {
      ...stamp,
      output_file_id: outFile?.id ?? null,
      error_file_id: errFile?.id ?? null,
      request_counts: counts,
      usage: { input_tokens: usage.input, input_tokens_details: { cached_tokens: 0 }, output_tokens: usage.output, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: usage.input + usage.output },
    });
  }

  private async create(json: unknown): Promise<Reply> {
    const b = CreateBody.safeParse(json);
    if (!b.success) {
      const i = b.error.issues[0]!;
      return invalid(`invalid request: ${i.path.join('.')}: ${i.message}`, i.path.join('.') || null);
    }
    const { input_file_id, endpoint, completion_window } = b.data;
    if (endpoint !== '/v1/chat/completions') return invalid(`endpoint '${endpoint}' is not served by the r4ec simulator; use '/v1/chat/completions'`, 'endpoint');
    if (completion_window !== '24h') return invalid(`'${completion_window}' is not one of ['24h'] - 'completion_window'`, 'completion_window');
    const metadata = b.data.metadata ?? null;
    if (metadata) {
      const entries = Object.entries(metadata);
      if (entries.length > 16) return invalid('metadata: at most 16 key-value pairs', 'metadata');
      for (const [k, v] of entries) {
        if (k.length > 64) return invalid(`metadata: key '${k.slice(0, 20)}…' is longer than 64 characters`, 'metadata');
        if (typeof v !== 'string' || v.length > 512) return invalid(`metadata.${k}: expected a string of at most 512 characters`, 'metadata');
      }
    }
    const file = this.files.get(input_file_id);
    if (!file) return notFound(`No such File object: ${input_file_id}`);
    if (file.purpose !== 'batch') return invalid(`File ${input_file_id} has purpose '${file.purpose}'; a batch input file needs purpose 'batch'`, 'input_file_id');
    const text = ((await this.files.content(input_file_id)) ?? Buffer.alloc(0)).toString('utf8');
    const requests = text.split('\n').filter((l) => l.trim() !== '').length;
    if (requests > this.opts.maxRequestsPerFile) {
      return invalid(`The batch input file contains ${requests} requests; a batch may contain at most ${this.opts.maxRequestsPerFile}.`, 'input_file_id', 'too_many_requests');
    }
    const ordinal = this.batches.size + 1;
    const expire = this.opts.expireBatches.has(ordinal) || (this.opts.expireRate > 0 && new Rng(`batch-expire|${ordinal}|${this.world.seed}`).next() < this.opts.expireRate);
    const createdAtMs = Date.now();
    const created = Math.floor(createdAtMs / 1000);
    const batch: SimBatch = {
      id: `batch_r4ecsim${hex(10)}`,
      object: 'batch',
      endpoint,
      model: null,
      errors: null,
      input_file_id,
      completion_window,
      status: 'validating',
      output_file_id: null,
      error_file_id: null,
      created_at: created,
      in_progress_at: null,
      expires_at: created + DAY_SECONDS,
      finalizing_at: null,
      completed_at: null,
      failed_at: null,
      expired_at: null,
      cancelling_at: null,
      cancelled_at: null,
      request_counts: { total: 0, completed: 0, failed: 0 },
      usage: { input_tokens: 0, input_tokens_details: { cached_tokens: 0 }, output_tokens: 0, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 0 },
      metadata: metadata as Record<string, string> | null,
    };
    const r: Running = { batch, ordinal, expire, createdAtMs, cancelRequested: false, wake: undefined };
    this.batches.set(batch.id, r);
    // On disk before the client hears of it: a restarted simulator knows every batch it announced.
    await this.persist(r);
    this.start(r);
    return reply(200, batch);
  }

  private async cancel(id: string): Promise<Reply> {
    const r = this.batches.get(id);
    if (!r) return notFound(`No such Batch object: ${id}`);
    const s = r.batch.status;
    if (s === 'cancelling' || s === 'cancelled') return reply(200, r.batch);
    if (s !== 'validating' && s !== 'in_progress') return invalid(`Cannot cancel a batch with status '${s}'.`, null, 'invalid_status');
    r.cancelRequested = true;
    await this.set(r, 'cancelling', { cancelling_at: now() });
    const answer = reply(200, r.batch);
    r.wake?.();
    return answer;
  }

  private list(url: URL): Reply {
    const limit = Number(url.searchParams.get('limit') ?? 20);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) return invalid('limit: expected an integer from 1 to 100', 'limit');
    const all = [...this.batches.values()].sort((a, b) => b.createdAtMs - a.createdAtMs || b.ordinal - a.ordinal).map((r) => r.batch);
    const after = url.searchParams.get('after');
    let start = 0;
    if (after) {
      const at = all.findIndex((b) => b.id === after);
      if (at < 0) return notFound(`No such Batch object: ${after}`);
      start = at + 1;
    }
    const data = all.slice(start, start + limit);
    return reply(200, { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: start + limit < all.length });
  }

  /** Routes `/v1/files…` and `/v1/batches…`; undefined for any other path. */
  async route(req: IncomingMessage, method: string, url: URL, readJson: () => Promise<unknown>): Promise<Reply | undefined> {
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts[0] !== 'v1') return undefined;
    if (parts[1] === 'files') return this.files.route(req, method, parts);
    if (parts[1] !== 'batches') return undefined;
    if (parts.length === 2 && method === 'POST') return this.create(await readJson());
    if (parts.length === 2 && method === 'GET') return this.list(url);
    const id = parts[2]!;
    if (parts.length === 3 && method === 'GET') {
      const r = this.batches.get(id);
      return r ? reply(200, r.batch) : notFound(`No such Batch object: ${id}`);
    }
    if (parts.length === 4 && parts[3] === 'cancel' && method === 'POST') return this.cancel(id);
    return notFound(`no route ${method} ${url.pathname} on the r4ec simulator`);
  }
}

/** The input file's lines, or OpenAI-style validation errors (1-based line numbers). */
function parseInput(text: string, endpoint: string): { lines: Line[]; errors: z.infer<typeof BatchErrorSchema>[] } {
  const lines: Line[] = [];
  const errors: z.infer<typeof BatchErrorSchema>[] = [];
  const seen = new Set<string>();
  let model: string | undefined;
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return;
    const line = i + 1;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      errors.push({ code: 'invalid_json_line', message: `This line is not parseable as valid JSON.`, param: null, line });
      return;
    }
    const p = InputLine.safeParse(json);
    if (!p.success) {
      const issue = p.error.issues[0]!;
      errors.push({ code: 'invalid_request', message: `${issue.path.join('.')}: ${issue.message}`, param: issue.path.join('.') || null, line });
      return;
    }
    if (p.data.url !== endpoint) {
      errors.push({ code: 'mismatched_endpoint', message: `The url '${p.data.url}' does not match the batch endpoint '${endpoint}'.`, param: 'url', line });
      return;
    }
    if (seen.has(p.data.custom_id)) {
      errors.push({ code: 'duplicate_custom_id', message: `The custom_id '${p.data.custom_id}' is used by an earlier line.`, param: 'custom_id', line });
      return;
    }
    seen.add(p.data.custom_id);
    const m = typeof p.data.body.model === 'string' ? p.data.body.model : undefined;
    model ??= m;
    if (m !== model) {
      errors.push({ code: 'mismatched_model', message: `Every request of a batch must use the same model: '${String(m)}' ≠ '${String(model)}'.`, param: 'body.model', line });
      return;
    }
    lines.push(p.data);
  });
  return { lines, errors };
}
