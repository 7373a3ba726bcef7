// `r4ec serve-model`'s HTTP side: an OpenAI-compatible chat completions server over one ModelEngine,
// with vLLM's runtime LoRA endpoints (`/v1/load_lora_adapter`, `/v1/unload_lora_adapter`; a request
// names an adapter as its `model`). Errors have OpenAI's shape `{ error: { message, type, param, code } }`.
import { existsSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { z } from 'zod';
import { EngineRequestError, type ModelEngine } from './engine';

export const MODEL_SERVER_OWNER = 'r4ec-model-server';

const Message = z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() }).passthrough();
const ChatBody = z
  .object({
    model: z.string().min(1),
    messages: z.array(Message).min(1),
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().gt(0).max(1).optional(),
    max_tokens: z.number().int().min(0).nullable().optional(),
    max_completion_tokens: z.number().int().min(0).nullable().optional(),
    stop: z.union([z.string(), z.array(z.string()).max(4)]).nullable().optional(),
    seed: z.number().int().nullable().optional(),
    n: z.literal(1).optional(),
    stream: z.boolean().optional(),
  })
  .passthrough();
const LoadBody = z.object({ lora_name: z.string().min(1), lora_path: z.string().min(1) }).passthrough();
const UnloadBody = z.object({ lora_name: z.string().min(1) }).passthrough();

const MAX_BODY = 8 * 1024 * 1024;

export interface ModelServerOptions {
  engine: ModelEngine;
  /** The base model's served name. */
  model: string;
  host?: string;
  port?: number;
}

export interface RunningModelServer {
  url: string;
  port: number;
  models(): string[];
  close(): Promise<void>;
}

function errorBody(message: string, type: string, code: number | string | null, param: string | null = null) {
  return { error: { message, type, param, code } };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error(`request body over ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolveBody(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function issueText(e: z.ZodError): { message: string; param: string | null } {
  const i = e.issues[0]!;
  const param = i.path.length > 0 ? i.path.join('.') : null;
  return { message: `invalid request: ${param ?? 'body'}: ${i.message}`, param };
}

const STATUS: Record<string, [number, string]> = {
  unknown_model: [404, 'NotFoundError'],
  unknown_adapter: [404, 'NotFoundError'],
  bad_adapter: [400, 'BadRequestError'],
  adapter_exists: [400, 'BadRequestError'],
  adapter_busy: [409, 'ConflictError'],
  context_length: [400, 'BadRequestError'],
  bad_request: [400, 'BadRequestError'],
  engine_error: [500, 'InternalServerError'],
  engine_down: [503, 'ServiceUnavailableError'],
};

export async function startModelServer(opts: ModelServerOptions): Promise<RunningModelServer> {
  const { engine } = opts;
  const adapters = new Map<string, string>();
  const created = Math.floor(Date.now() / 1000);
  const models = () => [opts.model, ...adapters.keys()];

  const send = (res: ServerResponse, status: number, body: unknown) => {
    if (res.destroyed || res.writableEnded) return;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json' });
    res.end(text);
  };
  const fail = (res: ServerResponse, e: unknown) => {
    if (e instanceof EngineRequestError) {
      const [status, type] = STATUS[e.kind] ?? [500, 'InternalServerError'];
      send(res, status, errorBody(e.message, type, status));
      return;
    }
    send(res, 500, errorBody(`model server error: ${(e as Error).message}`, 'InternalServerError', 500));
  };
  const json = (raw: string): unknown => {
    try {
      return JSON.parse(raw);
    } catch {
      throw new EngineRequestError('bad_request', 'request body is not JSON');
    }
  };

  async function chat(req: IncomingMessage, res: ServerResponse, raw: string): Promise<void> {
    const parsed = ChatBody.safeParse(json(raw));
    if (!parsed.success) {
      const { message, param } = issueText(parsed.error);
      send(res, 400, errorBody(message, 'BadRequestError', 400, param));
      return;
    }
    const body = parsed.data;
    if (body.model !== opts.model && !adapters.has(body.model)) {
      send(res, 404, errorBody(`The model \`${body.model}\` does not exist.`, 'NotFoundError', 404, 'model'));
      return;
    }
    if (body.stream) {
      send(res, 400, errorBody('streaming is not supported by r4ec serve-model', 'BadRequestError', 400, 'stream'));
      return;
    }
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableEnded) abort.abort();
    });
    const stop = body.stop == null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
    const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? undefined;
    const answer = await engine.generate(
      {
        messages: body.messages.map((m) => ({ role: m.role, content: m.content })),
        ...(adapters.has(body.model) ? { adapter: body.model } : {}),
        temperature: body.temperature ?? 1,
        topP: body.top_p ?? 1,
        ...(maxTokens !== undefined ? { maxTokens } : {}),
        stop,
        ...(body.seed != null ? { seed: body.seed } : {}),
      },
      abort.signal,
    );
    send(res, 200, {
      id: `chatcmpl-r4ec-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      system_fingerprint: MODEL_SERVER_OWNER,
      choices: [{ index: 0, message: { role: 'assistant', content: answer.text }, finish_reason: answer.finishReason, logprobs: null }],
      usage: { prompt_tokens: answer.promptTokens, completion_tokens: answer.completionTokens, total_tokens: answer.promptTokens + answer.completionTokens },
    });
  }

  async function loadAdapter(res: ServerResponse, raw: string): Promise<void> {
    const b = LoadBody.safeParse(json(raw));
    if (!b.success) return send(res, 400, errorBody('expected {"lora_name": NAME, "lora_path": DIR}', 'BadRequestError', 400));
    const { lora_name: name, lora_path: path } = b.data;
    if (name === opts.model || adapters.has(name)) {
      return send(res, 400, errorBody(`The lora adapter '${name}' has already been loaded.`, 'BadRequestError', 400, 'lora_name'));
    }
    const dir = resolve(path);
    if (!existsSync(dir) || !statSync(dir).isDirectory() || !existsSync(resolve(dir, 'adapter_config.json'))) {
      return send(
        res,
        400,
        errorBody(`no LoRA adapter at "${path}": expected a directory with adapter_config.json and adapter_model.safetensors`, 'BadRequestError', 400, 'lora_path'),
      );
    }
    await engine.loadAdapter(name, dir);
    adapters.set(name, dir);
    send(res, 200, `Success: LoRA adapter '${name}' added successfully.`);
  }

  async function unloadAdapter(res: ServerResponse, raw: string): Promise<void> {
    const b = UnloadBody.safeParse(json(raw));
    if (!b.success) return send(res, 400, errorBody('expected {"lora_name": NAME}', 'BadRequestError', 400));
    const name = b.data.lora_name;
    if (!adapters.has(name)) return send(res, 404, errorBody(`The lora adapter '${name}' cannot be found.`, 'NotFoundError', 404, 'lora_name'));
    await engine.unloadAdapter(name);
    adapters.delete(name);
    send(res, 200, `Success: LoRA adapter '${name}' removed successfully.`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://model').pathname.replace(/\/+$/, '');
    if (req.method === 'GET' && (path === '/health' || path === '')) {
      // The engine's counters (requests, decode steps, largest batch) show whether requests were batched.
      const stats = engine.alive ? await engine.stats().catch(() => ({})) : {};
      return send(res, engine.alive ? 200 : 503, { status: engine.alive ? 'ok' : 'engine_down', server: MODEL_SERVER_OWNER, model: opts.model, engine: stats });
    }
    if (req.method === 'GET' && path === '/v1/models') {
      return send(res, 200, {
        object: 'list',
        data: [
          { id: opts.model, object: 'model', created, owned_by: MODEL_SERVER_OWNER, root: opts.model, parent: null },
          ...[...adapters].map(([id, dir]) => ({ id, object: 'model', created, owned_by: MODEL_SERVER_OWNER, root: dir, parent: opts.model })),
        ],
      });
    }
    if (req.method !== 'POST') return send(res, 404, errorBody(`no route ${req.method} ${path}`, 'NotFoundError', 404));
    let raw: string;
    try {
      raw = await readBody(req);
    } catch (e) {
      return send(res, 413, errorBody((e as Error).message, 'BadRequestError', 413));
    }
    if (path === '/v1/chat/completions') return chat(req, res, raw);
    if (path === '/v1/load_lora_adapter') return loadAdapter(res, raw);
    if (path === '/v1/unload_lora_adapter') return unloadAdapter(res, raw);
    send(res, 404, errorBody(`no route POST ${path}`, 'NotFoundError', 404));
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => fail(res, e));
  });
  server.keepAliveTimeout = 30_000;
  // Requests wait for their turn in the batch; a long answer on CPU takes minutes, not seconds.
  server.requestTimeout = 0;
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((ok, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      ok();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    models,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}
