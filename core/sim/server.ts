// The offline LLM: a real OpenAI-compatible HTTP server on loopback (node:http) that answers every
// R4ec prompt kind in the exact format (see answer.ts), with vLLM's LoRA adapter endpoints, OpenAI's
// Files and Batch APIs (batches.ts) and seeded fault injection. It names itself a simulator in
// /v1/models and in its answers' ids.
//
// Determinism: the answer depends on (prompt, request seed, model, simulator seed); the fault on
// that plus the occurrence n of the identical request, so the n-th retry may succeed. Every
// request is logged (JSONL when logPath is set) with its path, hash, occurrence and outcome, so tests
// can assert that no completed call was repeated; every line of a batch is logged as a request of
// path `/v1/batches` with its batch and custom id.
import { createWriteStream, type WriteStream } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { R4ecError } from '../errors';
import type { SimBehaviour } from './answer';
import { SimBatches, type SimBatchOptions } from './batches';
import { Catalog, loadCatalog, parseCatalog, type CatalogItem } from './catalog';
import { acceptChat, answerChat, errorBody, SIMULATOR_OWNER, type ChatReply, type SimFaults, type SimOutcome, type SimWorld } from './chat';

export { SIMULATOR_OWNER, type SimFaults, type SimOutcome } from './chat';

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
  /** The Batch API: completion delay, expiring batches, limits, and where batches persist. */
  batch?: SimBatchOptions;
}

export interface SimLogEntry {
  at: string;
  /** The request's path; `/v1/batches` for a line answered inside a batch. */
  path: string;
  hash: string;
  occurrence: number;
  model: string;
  kind: string | null;
  outcome: SimOutcome;
  status: number;
  latencyMs: number;
  promptTokens: number;
  completionTokens: number;
  /** Files and batches API calls: the HTTP method. */
  method?: string;
  /** A batch line: its batch and custom_id. */
  batchId?: string;
  customId?: string;
}

export interface RunningSimulator {
  url: string;
  port: number;
  close(): Promise<void>;
  /** Model requests (synchronous and batch lines) and Files / Batch API calls (outcome `api`). */
  requestLog: SimLogEntry[];
  /** Base models plus loaded adapters. */
  models(): string[];
  /**
   * Replaces the world knowledge, e.g. once ingest has written the dataset's meta.json (a
   * simulator started before the data exists). Over HTTP: POST /sim/catalog {"path": "..."}.
   */
  setCatalog(catalog: Catalog | CatalogItem[] | string): Promise<number>;
  /** Model requests by outcome; `requests` counts model requests only, not API calls. */
  stats(): Record<SimOutcome, number> & { requests: number };
}

const LoadBody = z.object({ lora_name: z.string().min(1), lora_path: z.string().min(1) }).passthrough();
const UnloadBody = z.object({ lora_name: z.string().min(1) }).passthrough();

const MAX_BODY = 8 * 1024 * 1024;

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
    api: 0,
  };
  let logStream: WriteStream | undefined;
  if (opts.logPath) logStream = createWriteStream(opts.logPath, { flags: 'a' });

  const log = (e: SimLogEntry) => {
    counts[e.outcome]++;
    requestLog.push(e);
    if (requestLog.length > memoryLimit) requestLog.splice(0, requestLog.length - memoryLimit);
    logStream?.write(JSON.stringify(e) + '\n');
  };
  const logReply = (path: string, r: ChatReply, latencyMs: number, extra: Partial<SimLogEntry> = {}) =>
    log({
      at: new Date().toISOString(),
      path,
      hash: r.hash,
      occurrence: r.occurrence,
      model: r.model,
      kind: r.kind,
      outcome: r.outcome,
      status: r.status,
      latencyMs,
      promptTokens: r.promptTokens,
      completionTokens: r.completionTokens,
      ...extra,
    });

  const world: SimWorld = {
    catalog: () => catalog,
    hasModel: (m) => baseModels.has(m) || adapters.has(m),
    isAdapter: (m) => adapters.has(m),
    faults,
    seed,
    behaviour: opts.behaviour,
    occurrences,
  };
  const batches = new SimBatches(world, (l) => logReply('/v1/batches', l.reply, 0, { batchId: l.batchId, customId: l.customId }), opts.batch);
  await batches.load();

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    if (res.destroyed || res.writableEnded) return false;
    const raw = Buffer.isBuffer(body);
    const text = raw || typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      'content-type': raw ? 'application/octet-stream' : typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
      'x-r4ec-simulator': '1',
      ...headers,
    });
    res.end(text);
    return true;
  };

  const allModels = () => [...baseModels, ...adapters.keys()];

  async function chat(res: ServerResponse, raw: string, started: number): Promise<void> {
    const path = '/v1/chat/completions';
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      send(res, 400, errorBody('request body is not JSON', 'invalid_request_error', null));
      return;
    }
    const accepted = acceptChat(world, json);
    if (!accepted.accepted) {
      send(res, accepted.status, accepted.body);
      logReply(path, accepted, accepted.outcome === 'unknown_model' ? Date.now() - started : 0);
      return;
    }
    const latency = (faults.latencyMs ?? 0) + accepted.jitterMs;
    let aborted = false;
    res.on('close', () => {
      if (!res.writableEnded) aborted = true;
    });
    if (latency > 0) await sleep(latency);
    const r = answerChat(world, accepted);
    send(res, r.status, r.body, r.headers);
    logReply(path, aborted ? { ...r, outcome: 'aborted' } : r, Date.now() - started);
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
        log({ at: new Date().toISOString(), path, hash: '', occurrence: 0, model: '', kind: null, outcome: 'unauthorized', status: 401, latencyMs: 0, promptTokens: 0, completionTokens: 0 });
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
    if (path.startsWith('/v1/files') || path.startsWith('/v1/batches')) {
      const method = req.method ?? 'GET';
      const r = await batches.route(req, method, url, async () => safeJson(await readBody(req)));
      if (r) {
        send(res, r.status, r.body, r.headers);
        log({ at: new Date().toISOString(), path, method, hash: '', occurrence: 0, model: '', kind: null, outcome: 'api', status: r.status, latencyMs: Date.now() - started, promptTokens: 0, completionTokens: 0 });
        return;
      }
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
    if (path === '/v1/chat/completions') return chat(res, raw, started);
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
    const onError = (err: NodeJS.ErrnoException) => {
      // A busy or forbidden port is the user's to choose differently, not a bug.
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') {
        reject(
          new R4ecError(`the LLM simulator cannot listen on ${host}:${opts.port ?? 0}: ${err.code === 'EADDRINUSE' ? 'address already in use' : 'permission denied'}`, 'port_in_use', {
            suggestion: 'choose another port (sim-llm --port, or llm.simulator.port in the config; 0 picks a free one)',
            cause: err,
          }),
        );
      } else reject(err);
    };
    server.once('error', onError);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', onError);
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
    stats: () => ({ ...counts, requests: Object.values(counts).reduce((a, b) => a + b, 0) - counts.api }),
    close: async () => {
      await batches.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (logStream) await new Promise<void>((resolve) => logStream!.end(resolve));
    },
  };
}
