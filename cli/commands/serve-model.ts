import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { R4ecError } from '../../core/errors';
import { baseModelName, DEFAULT_BASE, ModelEngine, startModelServer } from '../../core/model-server';
import { pythonBinary, REPO_ROOT } from '../../runtime/paths';
import { positiveInt, str, type Command } from '../args';

export const serveModelCommand: Command = {
  name: 'serve-model',
  summary: 'serve a local model and its LoRA adapters (OpenAI-compatible, batched) on loopback',
  usage: 'r4ec serve-model --port P [--base DIR] [--name NAME] [--threads N] [--max-batch N] [--host H]',
  options: {
    port: { type: 'string', description: 'listen port (0 = any free port)' },
    base: { type: 'string', description: 'Hugging Face model directory (default: the installed SmolLM2-135M-Instruct, .tools/smollm2)' },
    name: { type: 'string', description: "the base model's served name (default: recorded at conversion, else the directory name)" },
    threads: { type: 'string', description: 'CPU threads for the model (default 2)' },
    'max-batch': { type: 'string', description: 'requests decoded together at most (default 16); more wait their turn' },
    host: { type: 'string', description: 'listen address (default 127.0.0.1)' },
  },
  details: [
    'Endpoints: GET /v1/models, POST /v1/chat/completions (the model\'s chat template; temperature, top_p,',
    'max_tokens, stop, seed; usage from the tokenizer), and vLLM\'s POST /v1/load_lora_adapter',
    '{"lora_name", "lora_path"} / /v1/unload_lora_adapter {"lora_name"}: a request names an adapter as its',
    '`model`; any number stay resident. Concurrent requests are decoded in one batch (continuous batching).',
    'The model runs in a child process of the trainer venv (transformers + peft); it stops with this command.',
  ].join('\n'),
  async run({ values }, life) {
    // A service: SIGINT/SIGTERM is its normal stop (exit 0); the engine and the server stop with it.
    life.signalIsStop = true;
    const portText = str(values.port);
    if (portText === undefined) throw new R4ecError('--port P is required', 'bad_arguments', { suggestion: 'pass --port 0 for any free port', exitCode: 2 });
    const port = Number(portText);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new R4ecError(`--port: expected 0..65535, got "${portText}"`, 'bad_arguments', { exitCode: 2 });
    const base = resolve(str(values.base) ?? DEFAULT_BASE);
    if (!existsSync(join(base, 'config.json'))) {
      throw new R4ecError(
        `no model at "${base}" (expected a Hugging Face model directory with config.json, weights and a tokenizer with a chat template)`,
        'model_missing',
        { suggestion: values.base ? 'check --base' : 'run `npm run setup` (installs SmolLM2-135M-Instruct at .tools/smollm2)', exitCode: 2 },
      );
    }
    const name = str(values.name) ?? baseModelName(base);
    const stopping = life.signal;
    process.stderr.write(`r4ec serve-model: loading ${name} from ${base}\n`);
    let engine: ModelEngine;
    try {
      engine = await ModelEngine.start({
        python: pythonBinary(),
        trainerRoot: REPO_ROOT,
        base,
        threads: positiveInt(str(values.threads), 'threads', 2),
        maxBatch: positiveInt(str(values['max-batch']), 'max-batch', 16),
        signal: stopping,
        onLog: (l) => {
          if (process.env.R4EC_DEBUG) process.stderr.write(`[engine] ${l}\n`);
        },
      });
    } catch (e) {
      if (stopping.aborted) return 0; // stopped while loading: nothing else to clean up
      throw e;
    }
    life.defer('model engine', () => engine.close());
    let server;
    try {
      server = await startModelServer({ engine, model: name, host: str(values.host) ?? '127.0.0.1', port });
    } catch (e) {
      await engine.close();
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EADDRINUSE') throw new R4ecError(`port ${port} is already in use`, 'port_busy', { suggestion: 'pick another --port (0 = any free port)', exitCode: 2 });
      throw e;
    }
    const running = server;
    life.defer('model server', () => running.close());
    process.stderr.write(
      `r4ec serve-model: ${name} at ${server.url}/v1 (engine pid ${engine.pid}, loaded in ${engine.info.loadSeconds} s, context ${engine.info.context} tokens)\n`,
    );
    const engineDied = engine.exitPromise.then(() => 'engine' as const);
    const stopped = new Promise<'signal'>((r) => stopping.addEventListener('abort', () => r('signal'), { once: true }));
    const why = await Promise.race([engineDied, stopped]);
    await server.close();
    await engine.close();
    if (why === 'engine') throw new R4ecError('the model engine exited unexpectedly', 'model_server_down', { suggestion: 'rerun with R4EC_DEBUG=1 to see its log' });
    return 0;
  },
};
