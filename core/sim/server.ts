// The offline LLM: a real OpenAI-compatible HTTP server on loopback (node:http) that answers every
// R4ec prompt kind in the exact format (see answer.ts), with vLLM's LoRA adapter endpoints and
// seeded fault injection. It names itself a simulator in /v1/models and in its answers' ids.
//
// Determinism: the answer depends on (prompt, request seed, model, simulator seed); the fault on
// that plus the occurrence n of the identical request, so the n-th retry may succeed. Every
// request is logged (JSONL when logPath is set) with its hash, occurrence and outcome, so tests can
// assert that no completed call was repeated.
import { createWriteStream, type WriteStream } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { requestHash } from '../llm/cache';
import { ChatMessageSchema } from '../llm/types';
import { kindLabel } from '../prompts/tags';
import { answer, malformedAnswer, sloppyAnswer, type SimBehaviour } from './answer';
import { Catalog, loadCatalog, parseCatalog, type CatalogItem } from './catalog';
import { Rng } from './rng';

export const SIMULATOR_OWNER = 'r4ec-simulator';

export interface SimFaults {
  /** Added to every response. */
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

export interface SimulatorOptions {
  port?: number;
  host?: string;
  /** A catalog, its items, or the path of a catalog / meta.json file (replaceable later: setCatalog). */
  catalog: Catalog | CatalogItem[] | string;
  /** Base model names served; adapters loaded through /v1/load_lora_adapter are added. */
  models?: string[];
  faults?: SimFaults;
  seed?: number;
  /** JSONL request log. */
  logPath?: string;
  /** When set, every /v1 request needs `Authorization: Bearer <apiKey>` (else 401). */
  apiKey?: string;
  behaviour?: Partial<SimBehaviour>;
  /** Entries kept in memory (oldest dropped; the file keeps all). Default 200,000. */
  memoryLogLimit?: number;
}

export type SimOutcome =
  | 'ok'
  | 'malformed'
  | 'rate_limited'
  | 'server_error'
  | 'unknown_model'
  | 'unauthorized'
  | 'bad_request'
  | 'aborted';

export interface SimLogEntry {
  at: string;
  hash: string;
  occurrence: number;
  model: string;
  kind: string | null;
  outcome: SimOutcome;
  status: number;
  latencyMs: number;
  promptTokens: number;
  completionTokens: number;
}

export interface RunningSimulator {
  url: string;
  port: number;
  close(): Promise<void>;
  requestLog: SimLogEntry[];
  /** Base models plus loaded adapters. */
  models(): string[];
  /**
   * Replaces the world knowledge, e.g. once ingest has written the dataset's meta.json (a
   * simulator started before the data exists). Over HTTP: POST /sim/catalog {"path": "..."}.
   */
  setCatalog(catalog: Catalog | CatalogItem[] | string): Promise<number>;
  stats(): Record<SimOutcome, number> & { requests: number };
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
const LoadBody = z.object({ lora_name: z.string().min(1), lora_path: z.string().min(1) }).passthrough();
const UnloadBody = z.object({ lora_name: z.string().min(1) }).passthrough();

const MAX_BODY = 8 * 1024 * 1024;

function tokens(s: string): number {
  return Math.ceil(s.length / 4);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

function errorBody(message: string, type: string, code: string | number | null) {
  return { error: { message, type, param: null, code } };
}

export async function startSimulator(opts: SimulatorOptions): Promise<RunningSimulator> {
  const toCatalog = async (c: Catalog | CatalogItem[] | string): Promise<Catalog> =>
    typeof c === 'string' ? loadCatalog(c) : c instanceof Catalog ? c : parseCatalog(c, 'catalog');
  let catalog = await toCatalog(opts.catalog);
  const setCatalog = async (c: Catalog | CatalogItem[] | string): Promise<number> => {
    catalog = await toCatalog(c);
    return catalog.size;
  };
  const baseModels = new Set(opts.models && opts.models.length > 0 ? opts.models : ['r4ec-sim']);
  const adapters = new Map<string, string>();
  const faults = opts.faults ?? {};
  const seed = opts.seed ?? 0;
  const occurrences = new Map<string, number>();
  const requestLog: SimLogEntry[] = [];
  const memoryLimit = opts.memoryLogLimit ?? 200_000;
  const counts: Record<SimOutcome, number> = {
    ok: 0,
    malformed: 0,
    rate_limited: 0,
    server_error: 0,
    unknown_model: 0,
    unauthorized: 0,
    bad_request: 0,
    aborted: 0,
  };
  let logStream: WriteStream | undefined;
  if (opts.logPath) logStream = createWriteStream(opts.logPath, { flags: 'a' });

  const log = (e: SimLogEntry) => {
    counts[e.outcome]++;
    requestLog.push(e);
    if (requestLog.length > memoryLimit) requestLog.splice(0, requestLog.length - memoryLimit);
    logStream?.write(JSON.stringify(e) + '\n');
  };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    if (res.destroyed || res.writableEnded) return false;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
      'x-r4ec-simulator': '1',
      ...headers,
    });
    res.end(text);
    return true;
  };

  const allModels = () => [...baseModels, ...adapters.keys()];

  async function chat(req: IncomingMessage, res: ServerResponse, raw: string, started: number): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      send(res, 400, errorBody('request body is not JSON', 'invalid_request_error', null));
      return;
    }
    const parsed = ChatBody.safeParse(json);
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      send(res, 400, errorBody(`invalid request: ${i.path.join('.')}: ${i.message}`, 'invalid_request_error', null));
      log({ at: new Date().toISOString(), hash: '', occurrence: 0, model: '', kind: null, outcome: 'bad_request', status: 400, latencyMs: 0, promptTokens: 0, completionTokens: 0 });
      return;
    }
    const body = parsed.data;
    const messages = body.messages.map((m) => ({ role: m.role, content: m.content }));
    const params = { temperature: body.temperature ?? 1, topP: body.top_p ?? 1, maxTokens: body.max_tokens ?? 0, seed: body.seed ?? 0 };
    const hash = requestHash(body.model, messages, params);
    const n = (occurrences.get(hash) ?? 0) + 1;
    occurrences.set(hash, n);
    const base = { at: new Date().toISOString(), hash, occurrence: n, model: body.model };
    const promptTokens = messages.reduce((a, m) => a + tokens(m.content) + 4, 0);

    if (!baseModels.has(body.model) && !adapters.has(body.model)) {
      send(res, 404, errorBody(`The model \`${body.model}\` does not exist.`, 'NotFoundError', 404));
      log({ ...base, kind: null, outcome: 'unknown_model', status: 404, latencyMs: Date.now() - started, promptTokens: 0, completionTokens: 0 });
      return;
    }
    if (body.stream) {
      send(res, 400, errorBody('streaming is not supported by the r4ec simulator', 'invalid_request_error', null));
      log({ ...base, kind: null, outcome: 'bad_request', status: 400, latencyMs: 0, promptTokens: 0, completionTokens: 0 });
      return;
    }

    const faultRng = new Rng(`${hash}|fault|${n}|${seed}`);
    const latency = (faults.latencyMs ?? 0) + (faults.latencyJitterMs ? faultRng.next() * faults.latencyJitterMs : 0);
    let aborted = false;
    res.on('close', () => {
      if (!res.writableEnded) aborted = true;
    });
    if (latency > 0) await sleep(latency);

    const u = faultRng.next();
    const r429 = faults.rateLimitRate ?? 0;
    const r500 = faults.serverErrorRate ?? 0;
    const rBad = faults.malformedRate ?? 0;
    const done = (outcome: SimOutcome, status: number, kind: string | null, completionTokens: number) =>
      log({ ...base, kind, outcome: aborted ? 'aborted' : outcome, status, latencyMs: Date.now() - started, promptTokens, completionTokens });

    if (u < r429) {
      const ra = faults.retryAfterSeconds ?? 1;
      send(res, 429, errorBody('Rate limit reached (injected by the r4ec simulator).', 'rate_limit_error', 'rate_limit_exceeded'), {
        'retry-after': String(Math.max(0, Math.ceil(ra))),
        'retry-after-ms': String(Math.round(ra * 1000)),
      });
      done('rate_limited', 429, null, 0);
      return;
    }
    if (u < r429 + r500) {
      send(res, 500, errorBody('Internal server error (injected by the r4ec simulator).', 'server_error', null));
      done('server_error', 500, null, 0);
      return;
    }

    const a = answer(messages, { catalog, seed, model: body.model, requestSeed: params.seed, adapter: adapters.has(body.model), ...(opts.behaviour ? { behaviour: opts.behaviour } : {}) });
    let text = a.text;
    let outcome: SimOutcome = 'ok';
    if (u < r429 + r500 + rBad) {
      text = malformedAnswer(a.kind, a.text, faultRng);
      outcome = 'malformed';
    } else if (faults.sloppyRate && faultRng.next() < faults.sloppyRate) {
      text = sloppyAnswer(text, faultRng);
    }
    const completionTokens = tokens(text);
    send(res, 200, {
      id: `chatcmpl-r4ecsim-${hash.slice(0, 16)}-${n}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      system_fingerprint: SIMULATOR_OWNER,
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    });
    done(outcome, 200, a.kind ? kindLabel(a.kind) : null, completionTokens);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const url = new URL(req.url ?? '/', 'http://sim');
    const path = url.pathname.replace(/\/+$/, '');
    if (req.method === 'GET' && (path === '/health' || path === '')) {
      send(res, 200, { status: 'ok', simulator: SIMULATOR_OWNER });
      return;
    }
    if (opts.apiKey !== undefined && path.startsWith('/v1')) {
      if (req.headers.authorization !== `Bearer ${opts.apiKey}`) {
        send(res, 401, errorBody('Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'));
        log({ at: new Date().toISOString(), hash: '', occurrence: 0, model: '', kind: null, outcome: 'unauthorized', status: 401, latencyMs: 0, promptTokens: 0, completionTokens: 0 });
        return;
      }
    }
    if (req.method === 'GET' && path === '/v1/models') {
      const created = Math.floor(Date.now() / 1000);
      send(res, 200, {
        object: 'list',
        data: [
          ...[...baseModels].map((id) => ({ id, object: 'model', created, owned_by: SIMULATOR_OWNER, root: id, parent: null })),
          ...[...adapters].map(([id, path]) => ({ id, object: 'model', created, owned_by: SIMULATOR_OWNER, root: path, parent: [...baseModels][0] ?? null })),
        ],
      });
      return;
    }
    if (req.method !== 'POST') {
      send(res, 404, errorBody(`no route ${req.method} ${path} on the r4ec simulator`, 'NotFoundError', 404));
      return;
    }
    let raw: string;
    try {
      raw = await readBody(req);
    } catch (e) {
      send(res, 413, errorBody((e as Error).message, 'invalid_request_error', null));
      return;
    }
    if (path === '/v1/chat/completions') return chat(req, res, raw, started);
    if (path === '/sim/catalog') {
      // Loopback-only admin call: the dataset's catalog becomes known after ingest.
      const b = z.object({ path: z.string().min(1) }).safeParse(safeJson(raw));
      if (!b.success) return void send(res, 400, errorBody('expected {"path": CATALOG_OR_META_JSON}', 'BadRequestError', 400));
      try {
        send(res, 200, { items: await setCatalog(b.data.path) });
      } catch (e) {
        send(res, 400, errorBody((e as Error).message, 'BadRequestError', 400));
      }
      return;
    }
    if (path === '/v1/load_lora_adapter' || path === '/v1/unload_lora_adapter') {
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        send(res, 400, errorBody('request body is not JSON', 'BadRequestError', 400));
        return;
      }
      if (path === '/v1/load_lora_adapter') {
        const b = LoadBody.safeParse(json);
        if (!b.success) return void send(res, 400, errorBody('expected {"lora_name", "lora_path"}', 'BadRequestError', 400));
        if (adapters.has(b.data.lora_name) || baseModels.has(b.data.lora_name)) {
          return void send(res, 400, errorBody(`The lora adapter '${b.data.lora_name}' has already been loaded.`, 'BadRequestError', 400));
        }
        adapters.set(b.data.lora_name, b.data.lora_path);
        send(res, 200, `Success: LoRA adapter '${b.data.lora_name}' added successfully.`);
        return;
      }
      const b = UnloadBody.safeParse(json);
      if (!b.success) return void send(res, 400, errorBody('expected {"lora_name"}', 'BadRequestError', 400));
      if (!adapters.delete(b.data.lora_name)) {
        return void send(res, 404, errorBody(`The lora adapter '${b.data.lora_name}' cannot be found.`, 'NotFoundError', 404));
      }
      send(res, 200, `Success: LoRA adapter '${b.data.lora_name}' removed successfully.`);
      return;
    }
    send(res, 404, errorBody(`no route POST ${path} on the r4ec simulator`, 'NotFoundError', 404));
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      send(res, 500, errorBody(`simulator bug: ${(e as Error).message}`, 'server_error', null));
    });
  });
  server.keepAliveTimeout = 30_000;
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    requestLog,
    models: allModels,
    setCatalog,
    stats: () => ({ ...counts, requests: Object.values(counts).reduce((a, b) => a + b, 0) }),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (logStream) await new Promise<void>((resolve) => logStream!.end(resolve));
    },
  };
}
