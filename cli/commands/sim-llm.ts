import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../runtime/config';
import { R4ecError } from '../../core/errors';
import { simulatorFaults, startSimulator } from '../../core/sim';
import { stateDirFrom } from '../../runtime/paths';
import { str, type Command } from '../args';

const rate = (v: string | undefined, name: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n >= 0 && n <= 1)) throw new R4ecError(`--${name}: expected a rate in [0, 1], got "${v}"`, 'bad_arguments', { exitCode: 2 });
  return n;
};

export const simLlmCommand: Command = {
  name: 'sim-llm',
  summary: 'serve the offline LLM simulator (OpenAI-compatible, on loopback) for tests and offline runs',
  usage:
    'r4ec sim-llm --port P --catalog PATH [--latency-ms N] [--malformed-rate R] [--rate-limit-rate R] [--server-error-rate R] [--model NAME]… [--batch-delay-ms N] [--batch-expire N]… [--batch-expire-rate R]',
  options: {
    port: { type: 'string', description: 'listen port on 127.0.0.1 (0 = any free port)' },
    catalog: { type: 'string', description: 'catalog JSON ([{id,title,year,genres}]) or an ingested dataset meta.json' },
    'latency-ms': { type: 'string', description: 'added latency per request' },
    'malformed-rate': { type: 'string', description: 'share of answers in a broken format' },
    'rate-limit-rate': { type: 'string', description: 'share of requests answered 429 with Retry-After' },
    'server-error-rate': { type: 'string', description: 'share of requests answered 500' },
    model: { type: 'string', multiple: true, description: 'base model names served (default: llm.simulator.model)' },
    seed: { type: 'string', description: 'simulator seed' },
    config: { type: 'string', description: 'config file (defaults for the flags above: llm.simulator)' },
    'batch-delay-ms': { type: 'string', description: 'Batch API: time from creating a batch until it finishes (default 0)' },
    'batch-expire': { type: 'string', multiple: true, description: 'Batch API: the n-th batch created (1-based) expires, half of it answered' },
    'batch-expire-rate': { type: 'string', description: 'Batch API: share of batches that expire' },
    'batch-dir': { type: 'string', description: 'where batches and files are kept across restarts (default $R4EC_STATE_DIR/sim-batches)' },
  },
  details:
    'It answers every R4ec prompt kind in the exact format from the catalog and the prompt only, names\nitself a simulator in /v1/models, and logs every request to $R4EC_STATE_DIR/logs/sim-requests.jsonl.\n' +
    "It serves OpenAI's Files and Batch APIs too; batch lines get the same faults as synchronous requests.",
  async run({ values }, life) {
    life.signalIsStop = true;
    const catalog = str(values.catalog);
    if (!catalog) throw new R4ecError('--catalog PATH is required', 'bad_arguments', { suggestion: 'pass a dataset meta.json from the store, or a JSON list of {id,title,year,genres}', exitCode: 2 });
    const { config } = loadConfig({ path: str(values.config) });
    const sim = config.llm.simulator;
    const faults = simulatorFaults({
      ...sim,
      latencyMs: Number(str(values['latency-ms']) ?? sim.latencyMs),
      malformedRate: rate(str(values['malformed-rate']), 'malformed-rate') ?? sim.malformedRate,
      rateLimitRate: rate(str(values['rate-limit-rate']), 'rate-limit-rate') ?? sim.rateLimitRate,
      serverErrorRate: rate(str(values['server-error-rate']), 'server-error-rate') ?? sim.serverErrorRate,
    });
    const models = (values.model as string[] | undefined) ?? [sim.model];
    const stateDir = stateDirFrom(process.env, config.stateDir);
    const logDir = join(stateDir, 'logs');
    const expire = ((values['batch-expire'] as string[] | undefined) ?? []).map((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new R4ecError(`--batch-expire: expected a batch number from 1 on, got "${v}"`, 'bad_arguments', { exitCode: 2 });
      return n;
    });
    const delay = Number(str(values['batch-delay-ms']) ?? 0);
    if (!(delay >= 0)) throw new R4ecError(`--batch-delay-ms: expected milliseconds >= 0, got "${String(values['batch-delay-ms'])}"`, 'bad_arguments', { exitCode: 2 });
    mkdirSync(logDir, { recursive: true });
    const server = await startSimulator({
      host: '127.0.0.1',
      port: Number(str(values.port) ?? 0),
      catalog,
      models,
      faults,
      seed: Number(str(values.seed) ?? sim.seed),
      logPath: join(logDir, 'sim-requests.jsonl'),
      batch: {
        dir: str(values['batch-dir']) ?? join(stateDir, 'sim-batches'),
        completionDelayMs: delay,
        expireBatches: expire,
        expireRate: rate(str(values['batch-expire-rate']), 'batch-expire-rate') ?? 0,
      },
    });
    life.defer('the simulator', () => server.close());
    process.stderr.write(`r4ec LLM SIMULATOR (not a language model) at ${server.url}/v1 serving ${models.join(', ')}\n`);
    await life.aborted;
    return 0;
  },
};
