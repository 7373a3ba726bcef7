// The teacher's Batch API path: the requests the synchronous path would send, written as JSONL
// files, uploaded, run as batches at the batch price, and read back into the same answer cache.
//
// Each operation is one short call, so an orchestrator can make each an activity and wait between
// polls with durable timers: `fromCache` (answers that need no request) → `plan` (files) →
// `submit` (find an existing batch by metadata, else upload + create) → `poll` (one retrieve) →
// `collect` (download, parse, cache) → the next round holds the format re-asks and the
// resubmissions. `runBatchRounds` (batch-run.ts) is that loop in-process for scripts and tests.
//
// Idempotency does not rest on anything recorded by the caller: `submit` lists the account's
// batches and reuses one whose metadata names the same run, stage, domain, round, part and file
// content, so a caller killed after the create call (before it could record the id) finds its
// batch instead of paying for a second one. When two callers race past the lookup, the oldest
// batch wins and the newer one is cancelled.
import { toFile } from 'openai';
import type { Batch } from 'openai/resources/batches';
import { faultPoint } from '../fault';
import type { LlmCache } from './cache';
import type { LlmClient } from './client';
import { classifyError } from './errors';
import { FormatError } from './parse';
import { reaskMessages } from './request';
import type { TokenUsage } from './types';
import { zeroUsage, type LlmUsage } from '../rules/usage';
import type { UsageLedger, UsageRecord } from './usage';
import {
  BATCH_ENDPOINT,
  BatchOutputLineSchema,
  batchMetadata,
  jsonlLines,
  metadataMatches,
  packBatchFiles,
  readLine,
  type BatchFile,
  type BatchItem,
  type BatchScope,
  type LineResult,
  type ResolvedRequest,
} from './batch-files';

export type BatchStatus = Batch['status'];
export const TERMINAL_BATCH_STATUSES: readonly BatchStatus[] = ['completed', 'expired', 'cancelled', 'failed'];
const OPEN: readonly BatchStatus[] = ['validating', 'in_progress', 'finalizing'];

/** A batch as the orchestrator needs it (plain JSON, fit for a workflow payload). */
export interface BatchInfo {
  id: string;
  status: BatchStatus;
  terminal: boolean;
  createdAt: number;
  counts: { total: number; completed: number; failed: number };
  outputFileId: string | null;
  errorFileId: string | null;
  metadata: Record<string, string>;
  /** Validation errors of a failed batch. */
  errors: Array<{ code: string; message: string; line: number | null }>;
}

export function batchInfo(b: Batch): BatchInfo {
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(b.metadata ?? {})) if (typeof v === 'string') meta[k] = v;
  return {
    id: b.id,
    status: b.status,
    terminal: TERMINAL_BATCH_STATUSES.includes(b.status),
    createdAt: b.created_at,
    counts: { total: b.request_counts?.total ?? 0, completed: b.request_counts?.completed ?? 0, failed: b.request_counts?.failed ?? 0 },
    outputFileId: b.output_file_id ?? null,
    errorFileId: b.error_file_id ?? null,
    metadata: meta,
    errors: (b.errors?.data ?? []).map((e) => ({ code: e.code ?? 'unknown', message: e.message ?? '', line: e.line ?? null })),
  };
}

/** How a stage reads its answers: the same parser and correction turn as its synchronous path. */
export interface BatchHandling<T> {
  parse: (item: BatchItem, text: string) => T;
  correction: (item: BatchItem, error: FormatError) => string;
  formatRetries: number;
  /** Deliveries per request before `failed_transport` (the synchronous path's `llm.transport.maxAttempts`). */
  transportAttempts: number;
}

/** Where one item stands after a round. `retry` items make up the next round. */
export type BatchItemResult<T> =
  | { id: string; status: 'ok'; value: T; text: string; model: string; requestHash: string; cacheHit: boolean; formatAttempts: number; usage: LlmUsage }
  | { id: string; status: 'retry'; reason: 'format' | 'transport'; code: string; error: string; item: BatchItem; usage: LlmUsage }
  | { id: string; status: 'failed_format'; code: string; error: string; lastText: string; model: string; formatAttempts: number; usage: LlmUsage }
  | { id: string; status: 'failed_transport'; code: string; error: string; retryable: boolean; usage: LlmUsage };

export interface BatchClientOptions {
  /** The teacher's client: endpoint, model, sampling defaults and credentials. */
  client: LlmClient;
  cache?: LlmCache;
  ledger?: UsageLedger;
  maxRequestsPerFile?: number;
  maxBytesPerFile?: number;
  /** Timeout of uploads and downloads (files up to 200 MB). Default 10 minutes. */
  transferTimeoutMs?: number;
}

export interface LookupOptions {
  /** Unix seconds: batches created before this are not looked at (the listing is newest first). */
  createdAfter?: number;
}

export class BatchClient {
  private readonly client: LlmClient;
  private readonly cache: LlmCache | undefined;
  private readonly ledger: UsageLedger | undefined;

  constructor(private readonly opts: BatchClientOptions) {
    this.client = opts.client;
    this.cache = opts.cache;
    this.ledger = opts.ledger;
  }

  private fail(e: unknown, model = this.client.endpoint.model): never {
    throw classifyError(e, { endpoint: this.client.endpoint.baseUrl, model, secrets: this.client.secrets });
  }

  /** The request an item stands for, exactly as the synchronous path would send it. */
  resolve(item: BatchItem): ResolvedRequest {
    const req = { messages: item.messages, seed: item.seed, ...(item.model ? { model: item.model } : {}), ...(item.params ? { params: item.params } : {}) };
    return { model: this.client.modelFor(req), messages: item.messages, params: this.client.params(req), hash: this.client.hashOf(req) };
  }

  plan(items: readonly BatchItem[]): BatchFile[] {
    return packBatchFiles(
      items.map((i) => this.resolve(i)),
      { ...(this.opts.maxRequestsPerFile ? { maxRequests: this.opts.maxRequestsPerFile } : {}), ...(this.opts.maxBytesPerFile ? { maxBytes: this.opts.maxBytesPerFile } : {}) },
    );
  }

  private async record(item: BatchItem, r: Omit<UsageRecord, 'at' | 'runId' | 'stage' | 'role' | 'domain' | 'entityId' | 'latencyMs' | 'batch'>): Promise<void> {
    const meta = item.meta;
    if (!meta || !this.ledger) return;
    await this.ledger.append({
      at: new Date().toISOString(),
      runId: meta.runId,
      stage: meta.stage,
      role: meta.role,
      ...(meta.domain !== undefined ? { domain: meta.domain } : {}),
      ...(meta.entityId !== undefined ? { entityId: meta.entityId } : {}),
      ...r,
      latencyMs: 0,
      batch: true,
    });
  }

  /** Items answered from the cache (as the synchronous path would be), and those that need a request. */
  async fromCache<T>(items: readonly BatchItem[], handling: Pick<BatchHandling<T>, 'parse'>): Promise<{ done: BatchItemResult<T>[]; pending: BatchItem[] }> {
    const done: BatchItemResult<T>[] = [];
    const pending: BatchItem[] = [];
    for (const item of items) {
      const r = this.resolve(item);
      const cached = this.cache ? await this.cache.peek(r.hash) : undefined;
      if (cached) {
        try {
          const value = handling.parse(item, cached.text);
          this.cache!.hits++;
          await this.record(item, { model: r.model, requestHash: r.hash, cacheHit: true, outcome: 'ok', promptTokens: 0, completionTokens: 0 });
          done.push({ id: item.id, status: 'ok', value, text: cached.text, model: r.model, requestHash: r.hash, cacheHit: true, formatAttempts: (item.formatAttempts ?? 0) + 1, usage: { ...zeroUsage(), cacheHits: 1 } });
          continue;
        } catch (e) {
          // The parser changed and no longer accepts this text: ask again.
          if (!(e instanceof FormatError)) throw e;
        }
      }
      if (this.cache) this.cache.misses++;
      pending.push(item);
    }
    return { done, pending };
  }

  /** Every batch of the account whose metadata names this scope and file, oldest first. */
  async findAll(scope: BatchScope, file: BatchFile, opts: LookupOptions = {}): Promise<BatchInfo[]> {
    const want = batchMetadata(scope, file);
    // The listing is in creation order (newest first), finer than created_at's seconds.
    return (await this.list(opts, (b) => metadataMatches(b.metadata, want))).reverse();
  }

  /** The batch that holds this file's requests for this scope, if one was created. */
  async find(scope: BatchScope, file: BatchFile, opts: LookupOptions = {}): Promise<BatchInfo | undefined> {
    return (await this.findAll(scope, file, opts))[0];
  }

  private async list(opts: LookupOptions, keep: (b: Batch) => boolean): Promise<BatchInfo[]> {
    const out: BatchInfo[] = [];
    try {
      for await (const b of this.client.api.batches.list({ limit: 100 })) {
        if (opts.createdAfter !== undefined && b.created_at < opts.createdAfter) break;
        if (keep(b)) out.push(batchInfo(b));
      }
    } catch (e) {
      this.fail(e);
    }
    return out;
  }

  /** The batches of a round's requests: each planned file found by its metadata or created, in order. */
  async submitAll(scope: BatchScope, items: readonly BatchItem[]): Promise<BatchInfo[]> {
    const out: BatchInfo[] = [];
    for (const f of this.plan(items)) out.push((await this.submit(scope, f)).batch);
    return out;
  }

  /**
   * The batch for this file: an existing one (any status; a finished or cancelled one is read, not
   * redone) or a new one. `created` says whether this call created it.
   */
  async submit(scope: BatchScope, file: BatchFile, opts: LookupOptions = {}): Promise<{ batch: BatchInfo; created: boolean }> {
    const existing = await this.find(scope, file, opts);
    if (existing) return { batch: existing, created: false };
    const api = this.client.api;
    const name = `r4ec-${scope.runId}-${scope.stage}-${scope.domain ?? 'all'}-r${scope.round}-p${file.part}.jsonl`.replace(/[^A-Za-z0-9._-]/g, '_');
    let created: Batch;
    try {
      const uploaded = await api.files.create({ file: await toFile(file.data, name, { type: 'application/jsonl' }), purpose: 'batch' }, { timeout: this.opts.transferTimeoutMs ?? 600_000 });
      created = await api.batches.create({ input_file_id: uploaded.id, endpoint: BATCH_ENDPOINT, completion_window: '24h', metadata: batchMetadata(scope, file) });
    } catch (e) {
      this.fail(e);
    }
    faultPoint('teacher-batch.submit.after-create');
    // Two callers that both found nothing each created one: the oldest wins, the newer is cancelled.
    const all = await this.findAll(scope, file, opts);
    const winner = all[0];
    if (winner && winner.id !== created.id) {
      await this.cancel(created.id);
      return { batch: winner, created: false };
    }
    return { batch: batchInfo(created), created: true };
  }

  /** One retrieve: the orchestrator sleeps between polls. */
  async poll(batchId: string): Promise<BatchInfo> {
    try {
      return batchInfo(await this.client.api.batches.retrieve(batchId));
    } catch (e) {
      this.fail(e);
    }
  }

  /** Cancels a batch; one that already finished is returned as it is. */
  async cancel(batchId: string): Promise<BatchInfo> {
    const current = await this.poll(batchId);
    if (current.terminal || current.status === 'cancelling') return current;
    try {
      return batchInfo(await this.client.api.batches.cancel(batchId));
    } catch (e) {
      // It finished between the two calls.
      const now = await this.poll(batchId);
      if (now.terminal || now.status === 'cancelling') return now;
      this.fail(e);
    }
  }

  /** The run's batches (any stage), newest first. */
  async runBatches(runId: string, opts: LookupOptions = {}): Promise<BatchInfo[]> {
    const run = batchMetadata({ runId, stage: '', round: 0 }, { part: 0, parts: 0, contentHash: '', customIds: [] }).r4ec_run;
    return this.list(opts, (b) => b.metadata?.r4ec_run === run);
  }

  /** Cancels every open batch of the run (a cancelled run leaves nothing running at the provider). */
  async cancelRun(runId: string, opts: LookupOptions = {}): Promise<BatchInfo[]> {
    const open = (await this.runBatches(runId, opts)).filter((b) => OPEN.includes(b.status));
    const out: BatchInfo[] = [];
    for (const b of open) out.push(await this.cancel(b.id));
    return out;
  }

  private async readFile(fileId: string, visit: (line: LineResult, customId: string) => Promise<void>): Promise<void> {
    let res: Response;
    try {
      res = await this.client.api.files.content(fileId, { timeout: this.opts.transferTimeoutMs ?? 600_000 });
    } catch (e) {
      this.fail(e);
    }
    for await (const { line, text } of jsonlLines(res.body)) {
      const where = `batch file ${fileId} line ${line}`;
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new Error(`${where}: not JSON`);
      }
      const parsed = BatchOutputLineSchema.safeParse(json);
      if (!parsed.success) {
        const i = parsed.error.issues[0]!;
        throw new Error(`${where}: ${i.path.join('.') || '(line)'}: ${i.message}; expected {id, custom_id, response: {status_code, request_id, body} | null, error}`);
      }
      await visit(readLine(parsed.data, where), parsed.data.custom_id);
    }
  }

  /**
   * Reads a finished batch's output and error files and settles each item of it: a parsed answer
   * (cached under its request hash and every hash of its re-ask chain, as the synchronous path
   * does), a re-ask or resubmission for the next round, or a final failure. `items` are the items
   * whose requests the batch's file holds (several items may share one request).
   */
  async collect<T>(batch: BatchInfo, items: readonly BatchItem[], handling: BatchHandling<T>): Promise<BatchItemResult<T>[]> {
    if (!batch.terminal) throw new Error(`batch ${batch.id} is ${batch.status}: collect it once it has finished`);
    const byHash = new Map<string, Array<{ item: BatchItem; req: ResolvedRequest }>>();
    for (const item of items) {
      const req = this.resolve(item);
      const list = byHash.get(req.hash);
      if (list) list.push({ item, req });
      else byHash.set(req.hash, [{ item, req }]);
    }
    const results: BatchItemResult<T>[] = [];
    const settle = async (line: LineResult, customId: string) => {
      const group = byHash.get(customId);
      if (!group) return;
      byHash.delete(customId);
      if (line.kind === 'answer') await this.settleAnswer(group, line, handling, results);
      else await this.settleError(group, line, handling, results);
    };
    if (batch.status === 'failed') {
      const e = batch.errors[0];
      const line: LineResult = { kind: 'error', status: null, code: e?.code ?? 'batch_failed', message: `batch ${batch.id} failed${e ? `: ${e.message}${e.line !== null ? ` (line ${e.line})` : ''}` : ''}`, retryable: true };
      for (const hash of [...byHash.keys()]) await settle(line, hash);
      return results;
    }
    if (batch.outputFileId) await this.readFile(batch.outputFileId, settle);
    if (batch.errorFileId) await this.readFile(batch.errorFileId, settle);
    // A finished batch that reports nothing for a request never ran it.
    for (const hash of [...byHash.keys()]) await settle({ kind: 'error', status: null, code: 'missing', message: `batch ${batch.id} (${batch.status}) has no line for request ${hash}`, retryable: true }, hash);
    return results;
  }

  private async settleAnswer<T>(
    group: Array<{ item: BatchItem; req: ResolvedRequest }>,
    line: Extract<LineResult, { kind: 'answer' }>,
    handling: BatchHandling<T>,
    out: BatchItemResult<T>[],
  ): Promise<void> {
    const usage: TokenUsage = { promptTokens: line.promptTokens, completionTokens: line.completionTokens };
    let cached = false;
    for (const [i, { item, req }] of group.entries()) {
      // One request answered several items: the first paid for it, the others read it as a cache hit would.
      const first = i === 0;
      const totals: LlmUsage = first ? { calls: 1, cacheHits: 0, ...usage } : { ...zeroUsage(), cacheHits: 1 };
      const attempts = (item.formatAttempts ?? 0) + 1;
      let value: T;
      try {
        value = handling.parse(item, line.text);
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
        if (first) await this.record(item, { model: req.model, requestHash: req.hash, cacheHit: false, outcome: 'format_error', ...usage });
        if (attempts <= handling.formatRetries) {
          const next: BatchItem = {
            ...item,
            messages: reaskMessages(item.messages, line.text, handling.correction(item, e)),
            chain: [...(item.chain ?? []), req.hash],
            formatAttempts: attempts,
          };
          out.push({ id: item.id, status: 'retry', reason: 'format', code: e.code, error: e.message, item: next, usage: totals });
        } else {
          out.push({ id: item.id, status: 'failed_format', code: e.code, error: e.message, lastText: line.text, model: req.model, formatAttempts: attempts, usage: totals });
        }
        continue;
      }
      if (this.cache) {
        // As in the synchronous path: the parsed answer also answers the chain's earlier requests.
        if (!cached) await this.cache.put(req.hash, req.model, line.text, usage);
        cached = true;
        for (const h of item.chain ?? []) await this.cache.put(h, req.model, line.text, usage);
      }
      await this.record(item, { model: req.model, requestHash: req.hash, cacheHit: !first, outcome: 'ok', ...(first ? usage : { promptTokens: 0, completionTokens: 0 }) });
      out.push({ id: item.id, status: 'ok', value, text: line.text, model: req.model, requestHash: req.hash, cacheHit: !first, formatAttempts: attempts, usage: totals });
    }
  }

  private async settleError<T>(
    group: Array<{ item: BatchItem; req: ResolvedRequest }>,
    line: Extract<LineResult, { kind: 'error' }>,
    handling: BatchHandling<T>,
    out: BatchItemResult<T>[],
  ): Promise<void> {
    for (const [i, { item, req }] of group.entries()) {
      // A line the provider never ran (expired, cancelled, missing) cost nothing and is no call.
      if (i === 0 && line.status !== null) await this.record(item, { model: req.model, requestHash: req.hash, cacheHit: false, outcome: 'transport_error', promptTokens: 0, completionTokens: 0 });
      const attempts = (item.transportAttempts ?? 0) + 1;
      if (line.retryable && attempts < handling.transportAttempts) {
        out.push({ id: item.id, status: 'retry', reason: 'transport', code: line.code, error: line.message, item: { ...item, transportAttempts: attempts }, usage: zeroUsage() });
      } else {
        out.push({ id: item.id, status: 'failed_transport', code: line.code, error: line.message, retryable: line.retryable, usage: zeroUsage() });
      }
    }
  }
}
