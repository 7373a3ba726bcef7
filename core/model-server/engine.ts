// The model engine process behind `r4ec serve-model` (trainer/serve, in the trainer venv): one
// child process that holds the base model and its adapters and decodes every request in flight in one
// batch. We talk to it in JSON lines over its stdin/stdout, so it opens no port, and it ends when
// our end of the pipe closes — also when this process is killed with SIGKILL.
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { R4ecError } from '../errors';
import { spawnOwned } from '../util/owned-process';

export interface EngineOptions {
  python: string;
  /** Directory holding the `trainer` package. */
  trainerRoot: string;
  /** Hugging Face model directory (config.json, weights, tokenizer with a chat template). */
  base: string;
  /** CPU threads for torch (default 2). */
  threads?: number;
  /** Rows decoded together at most (default 16); more requests wait in the engine's queue. */
  maxBatch?: number;
  env?: NodeJS.ProcessEnv;
  /** The engine's stderr, line by line (library warnings, tracebacks). */
  onLog?: (line: string) => void;
  /** Aborting while the model loads kills the engine and rejects start(). */
  signal?: AbortSignal;
  startTimeoutMs?: number;
}

export interface GenerateRequest {
  messages: { role: string; content: string }[];
  /** An adapter's name; undefined = the base model. */
  adapter?: string;
  temperature: number;
  topP: number;
  maxTokens?: number;
  stop: string[];
  seed?: number;
}

export interface GenerateAnswer {
  text: string;
  finishReason: 'stop' | 'length';
  promptTokens: number;
  completionTokens: number;
}

export type EngineErrorKind =
  | 'unknown_model'
  | 'bad_adapter'
  | 'adapter_exists'
  | 'unknown_adapter'
  | 'adapter_busy'
  | 'context_length'
  | 'bad_request'
  | 'engine_error'
  | 'engine_down';

/** A request the engine refused or could not answer; the server maps `kind` to an HTTP status. */
export class EngineRequestError extends R4ecError {
  constructor(
    readonly kind: EngineErrorKind,
    message: string,
  ) {
    super(message, kind, { retryable: kind === 'engine_down' || kind === 'adapter_busy' });
    this.name = 'EngineRequestError';
  }
}

const Ready = z.object({ event: z.literal('ready'), model: z.string(), loadSeconds: z.number(), context: z.number().int(), pid: z.number().int() });
const StartError = z.object({ event: z.literal('error'), message: z.string() });
const Reply = z.object({
  id: z.number().int().nullable(),
  ok: z.boolean(),
  error: z.object({ kind: z.string(), message: z.string() }).optional(),
  text: z.string().optional(),
  finishReason: z.enum(['stop', 'length']).optional(),
  promptTokens: z.number().int().optional(),
  completionTokens: z.number().int().optional(),
  stats: z.record(z.string(), z.unknown()).optional(),
});
type Reply = z.infer<typeof Reply>;

const KINDS = new Set<string>(['unknown_model', 'bad_adapter', 'adapter_exists', 'unknown_adapter', 'adapter_busy', 'context_length', 'bad_request', 'engine_error']);

export class ModelEngine {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private exited: Error | undefined;
  readonly exitPromise: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    readonly info: z.infer<typeof Ready>,
    lines: AsyncIterable<string>,
  ) {
    this.exitPromise = new Promise((r) => child.once('exit', (code) => r(code)));
    void this.exitPromise.then((code) => {
      this.exited = new EngineRequestError('engine_down', `the model engine (pid ${info.pid}) exited (code ${code})`);
      for (const p of this.pending.values()) p.reject(this.exited);
      this.pending.clear();
    });
    void (async () => {
      for await (const line of lines) {
        let reply: Reply;
        try {
          reply = Reply.parse(JSON.parse(line));
        } catch {
          continue; // not ours (a library writing to fd 1 before the engine claimed it)
        }
        if (reply.id === null) continue;
        const p = this.pending.get(reply.id);
        if (!p) continue;
        this.pending.delete(reply.id);
        p.resolve(reply);
      }
    })();
  }

  static async start(opts: EngineOptions): Promise<ModelEngine> {
    const args = ['-m', 'trainer.serve.main', '--base', opts.base, '--threads', String(opts.threads ?? 2), '--max-batch', String(opts.maxBatch ?? 16)];
    // Owned: the model process dies with this one, however it ends (a killed worker leaves no model behind).
    const child = spawnOwned(opts.python, args, {
      cwd: opts.trainerRoot,
      env: { ...(opts.env ?? process.env), HF_HUB_OFFLINE: '1', PYTHONUNBUFFERED: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // A write after the engine died must not crash this process: the 'exit' handler reports it.
    child.stdin!.on('error', () => undefined);
    const tail: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (l) => {
      tail.push(l);
      if (tail.length > 20) tail.shift();
      opts.onLog?.(l);
    });
    const lines = createInterface({ input: child.stdout! });
    const iterator = lines[Symbol.asyncIterator]();
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const failed = (message: string, suggestion?: string) => {
      kill();
      return new R4ecError(message, 'model_server_start', suggestion ? { suggestion } : {});
    };
    const spawnError = new Promise<never>((_, rej) =>
      child.once('error', (e: NodeJS.ErrnoException) =>
        rej(failed(`cannot run ${opts.python}: ${e.message}`, 'run `npm run setup` to create the trainer venv')),
      ),
    );
    const early = new Promise<never>((_, rej) =>
      child.once('exit', (code, sig) =>
        rej(failed(`the model engine exited (${sig ?? `code ${code}`}) while loading ${opts.base}:\n${tail.slice(-8).join('\n')}`)),
      ),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(failed(`the model engine did not load ${opts.base} within ${(opts.startTimeoutMs ?? 300_000) / 1000} s`)), opts.startTimeoutMs ?? 300_000);
    });
    const aborted = new Promise<never>((_, rej) => {
      const onAbort = () => rej(failed('stopped while the model was loading'));
      if (opts.signal?.aborted) onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
    const first = (async () => {
      for (;;) {
        const r = await iterator.next();
        if (r.done) return await new Promise<never>(() => undefined); // 'exit' reports it
        let json: unknown;
        try {
          json = JSON.parse(r.value);
        } catch {
          continue;
        }
        const ready = Ready.safeParse(json);
        if (ready.success) return ready.data;
        const err = StartError.safeParse(json);
        if (err.success) throw failed(err.data.message, 'pass --base DIR with a Hugging Face model directory, or run `npm run setup` for the default SmolLM2');
      }
    })();
    try {
      const info = await Promise.race([first, spawnError, early, timeout, aborted]);
      const rest: AsyncIterable<string> = { [Symbol.asyncIterator]: () => iterator };
      return new ModelEngine(child, info, rest);
    } finally {
      clearTimeout(timer);
      early.catch(() => undefined);
      spawnError.catch(() => undefined);
      aborted.catch(() => undefined);
      timeout.catch(() => undefined);
    }
  }

  get pid(): number {
    return this.info.pid;
  }

  get alive(): boolean {
    return this.exited === undefined;
  }

  private send(op: Record<string, unknown>): { id: number; reply: Promise<Reply> } {
    if (this.exited) return { id: 0, reply: Promise.reject(this.exited) };
    const id = this.nextId++;
    const reply = new Promise<Reply>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.child.stdin!.write(JSON.stringify({ ...op, id }) + '\n');
    return { id, reply };
  }

  private static check(r: Reply): Reply {
    if (r.ok) return r;
    const kind = r.error?.kind ?? 'bad_request';
    throw new EngineRequestError(KINDS.has(kind) ? (kind as EngineErrorKind) : 'bad_request', r.error?.message ?? 'the engine refused the request');
  }

  /** One chat completion; aborting (client gone) drops the row from the batch. */
  async generate(req: GenerateRequest, signal?: AbortSignal): Promise<GenerateAnswer> {
    const { id, reply } = this.send({
      op: 'generate',
      messages: req.messages,
      adapter: req.adapter ?? null,
      temperature: req.temperature,
      top_p: req.topP,
      max_tokens: req.maxTokens ?? null,
      stop: req.stop,
      seed: req.seed ?? null,
    });
    const onAbort = () => {
      if (this.pending.delete(id) && !this.exited) this.child.stdin!.write(JSON.stringify({ op: 'cancel', target: id, id: 0 }) + '\n');
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const r = ModelEngine.check(await reply);
      return { text: r.text ?? '', finishReason: r.finishReason ?? 'stop', promptTokens: r.promptTokens ?? 0, completionTokens: r.completionTokens ?? 0 };
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async loadAdapter(name: string, path: string): Promise<void> {
    ModelEngine.check(await this.send({ op: 'load', name, path }).reply);
  }

  async unloadAdapter(name: string): Promise<void> {
    ModelEngine.check(await this.send({ op: 'unload', name }).reply);
  }

  async stats(): Promise<Record<string, unknown>> {
    return ModelEngine.check(await this.send({ op: 'stats' }).reply).stats ?? {};
  }

  /** Ends the engine: closing stdin lets it exit by itself; SIGTERM, then SIGKILL, if it does not. */
  async close(graceMs = 3000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.stdin!.end();
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }
}
