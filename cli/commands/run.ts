import { WorkflowFailedError, type Client } from '@temporalio/client';
import { join } from 'node:path';
import { loadConfig, type LoadedConfig } from '../../runtime/config';
import { validateConfig } from '../../core/validate-config';
import type { R4ecConfig } from '../../config/schema';
import { resolveDatasetDir } from '../../activities/ingest';
import { ingest } from '../../core/data/ingest';
import { loadDataset } from '../../core/data/dataset';
import { estimateMoney, estimateRun } from '../../core/estimate';
import { formatUsd, PRICES_TAKEN } from '../../core/llm/prices';
import { LLM_ROLES, PIPELINE_WORKFLOW_TYPE, STAGES, type KnowledgeSet, type Stage } from '../../config/names';
import { scanKnowledgeDir } from '../../core/encode/import-dir';
import { hashJson } from '../../core/util/hash';
import { R4ecError, type ErrorBlock } from '../../core/errors';
import { connectClient, dataConverterFor, resolveTemporal } from '../../runtime/connection';
import { stateDirFrom } from '../../runtime/paths';
import { openStore } from '../../core/store';
import { roleSource, selectStages, type StageSelection } from '../../core/rules';
import { emptySummary, type KnowledgeImport, type RunSummary } from '../../workflows/run-summary';
import { knownError, printErrorBlock } from '../../runtime/handle-error';
import { Interrupted, type Lifecycle } from '../../runtime/lifecycle';
import { str, type Command } from '../args';
import { ensureServer, startWorkers } from '../local';
import { ProgressView } from '../progress';
import { deriveRunId, runIdConfigHash } from '../run-id';

function stageList(flag: string, value: string | undefined): Stage[] | undefined {
  if (value === undefined) return undefined;
  const stages = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = stages.filter((s) => !(STAGES as readonly string[]).includes(s));
  if (bad.length || stages.length === 0) {
    throw new R4ecError(`--${flag}: unknown stage ${bad.map((b) => `"${b}"`).join(', ') || '(empty)'}`, 'bad_arguments', {
      suggestion: `stages are: ${STAGES.join(', ')}`,
      exitCode: 2,
    });
  }
  return stages as Stage[];
}

export function selectionFrom(values: Record<string, unknown>): StageSelection | undefined {
  const only = stageList('only', str(values.only as string));
  const from = stageList('from', str(values.from as string));
  const until = stageList('until', str(values.until as string));
  if (only && (from || until)) throw new R4ecError('--only cannot be combined with --from/--until', 'bad_arguments', { exitCode: 2, suggestion: 'use --only a,b or --from a --until b' });
  if ((from && from.length > 1) || (until && until.length > 1)) throw new R4ecError('--from and --until take one stage each', 'bad_arguments', { exitCode: 2 });
  if (from && until && STAGES.indexOf(from[0]!) > STAGES.indexOf(until[0]!)) throw new R4ecError(`--from ${from[0]} comes after --until ${until[0]}`, 'bad_arguments', { exitCode: 2 });
  const force = stageList('force', str(values.force as string));
  if (force && force.length > 1) throw new R4ecError('--force takes one stage (it and every stage after it recompute)', 'bad_arguments', { exitCode: 2 });
  const selection: StageSelection = { ...(only ? { only } : {}), ...(from ? { from: from[0]! } : {}), ...(until ? { until: until[0]! } : {}) };
  if (force && !selectStages(selection).includes(force[0]!)) {
    throw new R4ecError(`--force ${force[0]}: that stage is not selected in this run`, 'bad_arguments', { exitCode: 2, suggestion: `select it too (e.g. --from ${force[0]}), or drop --only/--from/--until` });
  }
  if (!only && !from && !until && !force) return undefined;
  return { ...selection, ...(force ? { force: force[0]! } : {}) };
}

export const runCommand: Command = {
  name: 'run',
  summary: 'run the R4ec DAG (ingest → construct → finetune → refine → encode → train → report), or re-attach to it',
  usage: 'r4ec run [--config FILE] [--run-id ID] [--until STAGE | --only STAGE[,STAGE…] | --from STAGE] [--force STAGE] [--knowledge-from DIR] [--json] [--dry-run]',
  options: {
    config: { type: 'string', description: 'config file (YAML/JSON); default: the embedded default (synthetic data, simulator LLM)' },
    'run-id': { type: 'string', description: 'workflow id of the run; default: derived from dataset + config, so a rerun re-attaches' },
    only: { type: 'string', description: 'compute only these stages (earlier stages are looked up, not computed)' },
    from: { type: 'string', description: 'compute from this stage on' },
    until: { type: 'string', description: 'compute up to and including this stage' },
    force: { type: 'string', description: 'recompute this stage and every stage after it, even when their outputs exist (their old outputs are removed first)' },
    'knowledge-from': {
      type: 'string',
      description: 'knowledge made elsewhere: DIR/<set>/<domain>.jsonl (set: kar, r2ec, r4ec; domain: user, item); construct, finetune and refine are skipped, those sets are encoded, trained and reported',
    },
    json: { type: 'boolean', description: 'progress on stderr, one JSON run summary on stdout at the end' },
    'dry-run': { type: 'boolean', description: 'estimate entities, LLM calls, tokens and money (synchronous and batch) per stage and role; start nothing' },
  },
  details:
    'Without temporal.address in the config, r4ec starts (or attaches to) the local dev server and runs\n' +
    'workers in this process. Finished stages are skipped by their artifact keys, so running again\n' +
    'after a failure or a config change redoes only what changed.',
  async run({ values }, life) {
    const selection = selectionFrom(values);
    let loaded = loadConfig({ path: str(values.config) });
    // Imported knowledge: the layout is checked and the files hashed here (the run id follows their
    // content); every line is checked against the ingested dataset by the run's import step.
    let imported: KnowledgeImport | undefined;
    const knowledgeFrom = str(values['knowledge-from']);
    if (knowledgeFrom !== undefined) {
      const scan = await scanKnowledgeDir(knowledgeFrom);
      imported = { dir: scan.dir, sets: scan.sets, contentHash: scan.contentHash };
      loaded = withVariants(loaded, scan.sets);
      process.stderr.write(`knowledge imported from ${scan.dir}: ${scan.sets.join(', ')} (construct, finetune and refine are skipped); variants trained: ${loaded.config.train.variants.join(', ')}\n`);
    }
    const { config } = loaded;
    const env = process.env;
    const stateDir = stateDirFrom(env, config.stateDir);
    const runId = str(values['run-id']) ?? deriveRunId(config, runIdConfigHash(config), stateDir, imported?.contentHash);
    current = { runId, configHash: loaded.hash };
    if (values['dry-run']) return dryRun(config, stateDir, runId, Boolean(values.json));

    // What needs only config and env fails before anything starts: the codec key, TLS files, API key.
    const dataConverter = dataConverterFor(config, env, { onKeyError: (err) => life.fail(err) });
    resolveTemporal(config, config.temporal.address ?? '127.0.0.1', env);
    life.describeInterrupt = (sig) => interrupted(sig, runId, config.temporal.address, stateDir);

    const { address, uiUrl } = await ensureServer(config, env, life);
    process.stderr.write(`Temporal Web UI: ${uiUrl}/namespaces/${config.temporal.namespace}/workflows/${encodeURIComponent(runId)}\n`);
    if (!config.temporal.address) await startWorkers(config, address, env, life);
    const client = await connectClient(resolveTemporal(config, address, env), dataConverter);
    // Closing a connection under a call in flight makes the SDK's retry timer throw: on a signal the
    // calls are cancelled (withAbortSignal) and the connection goes with the process.
    life.defer('the Temporal client', async () => {
      if (!life.signal.aborted) await client.connection.close();
    });
    const summary = await client.withAbortSignal(life.signal, () => startOrAttach(client, config.queues.cpu.name, runId, loaded.raw, selection, loaded.hash, life, imported));
    if (values.json) process.stdout.write(JSON.stringify(summary) + '\n');
    else printSummary(summary);
    if (summary.failure) printErrorBlock(summary.failure, (l) => process.stderr.write(l));
    const report = summary.artifacts.report?.key;
    if (report && config.store.kind === 'local') {
      const store = openStore(config.store, stateDir);
      process.stderr.write(`report: ${await store.localPath(`${report}/report.html`)}\n`);
    }
    return summary.error ? 1 : 0;
  },
  // A run that fails before it has a summary (bad config, busy port, wrong codec key, a signal) still
  // prints the summary's shape on stdout with --json: no stages, the error and its failure block.
  jsonError: (failure) => failedSummary(current?.runId ?? null, current?.configHash ?? null, failure),
};

/**
 * With imported knowledge the run trains Base (when the config lists it) and the imported sets:
 * nothing else produces knowledge. The config (and so its hash and the run id) says so.
 */
function withVariants(loaded: LoadedConfig, sets: readonly KnowledgeSet[]): LoadedConfig {
  const variants = [...(loaded.config.train.variants.includes('base') ? ['base'] : []), ...sets];
  const raw = structuredClone(loaded.raw);
  raw.train = { ...((raw.train as Record<string, unknown> | undefined) ?? {}), variants };
  const config = validateConfig(raw, loaded.source);
  return { ...loaded, raw, config, hash: hashJson(config) };
}

/** The run this process works on, for the --json error output. */
let current: { runId: string; configHash: string } | undefined;

function failedSummary(runId: string | null, configHash: string | null, failure: ErrorBlock): RunSummary {
  // runId and configHash are null when the command failed before it knew them (a bad config).
  return { ...emptySummary(runId as string, configHash as string), error: `${failure.stage ? `${failure.stage}: ` : ''}${failure.message}`, failure };
}

/** What Ctrl-C / SIGTERM means for a run: it stops here and is kept; running again continues it. */
function interrupted(sig: NodeJS.Signals, runId: string, address: string | undefined, stateDir: string): Interrupted {
  if (address) {
    return new Interrupted(
      sig,
      `stopped following run ${runId} (${sig}); the run goes on in the Temporal server at ${address} with the workers serving it`,
      `\`r4ec run --run-id ${runId}\` with the same config follows it again; \`r4ec status --run ${runId}\` shows it; \`r4ec cancel --run ${runId}\` stops it`,
    );
  }
  return new Interrupted(
    sig,
    `run ${runId} interrupted (${sig}): this process's workers stopped; the run keeps its state in ${join(stateDir, 'temporal.sqlite')} and waits there`,
    `run the same command again (same config and R4EC_STATE_DIR, or \`r4ec run --run-id ${runId}\`) to continue it: finished stages are skipped and the current one resumes; \`r4ec cancel --run ${runId}\` abandons it`,
  );
}

async function startOrAttach(
  client: Client,
  taskQueue: string,
  runId: string,
  raw: unknown,
  selection: StageSelection | undefined,
  configHash: string,
  life: Lifecycle,
  imported?: KnowledgeImport,
): Promise<RunSummary> {
  const handle = await client.workflow.start(PIPELINE_WORKFLOW_TYPE, {
    taskQueue,
    workflowId: runId,
    args: imported ? [raw, selection ?? null, { knowledgeImport: imported }] : selection ? [raw, selection] : [raw],
    // Same id while running: attach to it. Finished: a new run whose finished stages are skipped.
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
  });
  process.stderr.write(`run ${runId} (${handle.firstExecutionRunId})\n`);
  const view = new ProgressView();
  let finished = false;
  let wake = () => {};
  const stopPolling = () => {
    finished = true;
    wake();
  };
  life.signal.addEventListener('abort', stopPolling);
  const poller = (async () => {
    while (!finished) {
      await view.poll(client, runId);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, view.intervalMs);
      });
    }
  })();
  try {
    return (await handle.result()) as RunSummary;
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      const details = (err.cause as { details?: unknown[] } | undefined)?.details;
      const summary = details?.[0] as RunSummary | undefined;
      if (summary && typeof summary === 'object' && 'stages' in summary) return summary;
      // Failed outside any stage (its config, a termination): the summary's shape, with why.
      const known = knownError(err);
      if (known) return failedSummary(runId, configHash, known.block);
      throw new R4ecError(`run ${runId} failed: ${err.cause?.message ?? err.message}`, 'run_failed', {
        suggestion: `inspect it in the Web UI or with \`temporal workflow show -w ${runId}\`; fix the cause and run again (finished stages are skipped)`,
      });
    }
    throw err;
  } finally {
    stopPolling();
    life.signal.removeEventListener('abort', stopPolling);
    await poller;
    if (!life.signal.aborted) await view.poll(client, runId);
  }
}

function printSummary(s: RunSummary): void {
  const out = process.stdout;
  out.write(`\nrun ${s.runId}\n`);
  for (const [stage, st] of Object.entries(s.stages)) out.write(`  ${stage.padEnd(10)} ${st.status.padEnd(10)} ${st.seconds.toFixed(1)}s\n`);
  if (s.ingest) out.write(`ingest: ${Object.entries(s.ingest).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
  for (const block of ['construct', 'refine'] as const) {
    const o = s[block]?.outcomes;
    if (o) for (const [d, counts] of Object.entries(o)) out.write(`${block} ${d}: ${Object.entries(counts ?? {}).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
  }
  if (s.imported) out.write(`knowledge imported from ${s.imported.dir}: ${Object.entries(s.imported.records).map(([set, n]) => `${set} (${n.user} users, ${n.item} items)`).join(', ')}\n`);
  if (s.train) out.write(`train: ${JSON.stringify(s.train)}\n`);
  out.write(`llm: calls=${s.llm.calls} cacheHits=${s.llm.cacheHits} promptTokens=${s.llm.promptTokens} completionTokens=${s.llm.completionTokens}\n`);
  if (s.money) {
    const parts = Object.entries(s.money.byStageRole).map(([k, v]) => `${k}=${formatUsd(v)}`);
    out.write(`money: ${formatUsd(s.money.usd)}${parts.length ? ` (${parts.join(' ')})` : ''}${s.money.unpriced.length ? `; no price for ${s.money.unpriced.join(', ')}` : ''}\n`);
  }
  if (s.report) out.write(`report: ${JSON.stringify(s.report)}\n`);
  // With a failure block, stderr gets it in full (code, place, suggestion) after this.
  if (s.error) out.write(`FAILED: ${s.failure ? `${s.failure.stage ? `stage ${s.failure.stage}` : s.failure.code}` : s.error}\n`);
}

async function dryRun(config: R4ecConfig, stateDir: string, runId: string, json: boolean): Promise<number> {
  // Ingest is local, cheap and content-keyed (no LLM is called): the estimate uses the real entities.
  const store = openStore(config.store, stateDir);
  const dir = await resolveDatasetDir(config.dataset, stateDir);
  const ingested = await ingest({ store, dataset: config.dataset, dir });
  const rows = await estimateRun(config, await loadDataset(store, ingested.key));
  const money = estimateMoney(config, rows);
  if (json) {
    process.stdout.write(JSON.stringify({ runId, dryRun: true, ingest: ingested.summary, estimate: rows, money: { ...money, pricesTaken: PRICES_TAKEN } }) + '\n');
    return 0;
  }
  const out = process.stdout;
  const usd = (v: number | null) => (v === null ? '—' : formatUsd(v));
  out.write(`dry run of ${runId}: ${ingested.summary.users} users, ${ingested.summary.items} items (nothing started, no LLM called)\n\n`);
  out.write(`${'stage'.padEnd(10)}${'domain'.padEnd(7)}${'role'.padEnd(11)}${'entities'.padStart(9)}${'calls (min–max)'.padStart(20)}${'prompt tok'.padStart(13)}${'compl. tok'.padStart(13)}${'USD sync'.padStart(11)}${'USD batch'.padStart(11)}\n`);
  for (const r of rows) {
    out.write(`${r.stage.padEnd(10)}${r.domain.padEnd(7)}${r.role.padEnd(11)}${String(r.entities).padStart(9)}${`${r.callsMin}–${r.callsMax}`.padStart(20)}${String(r.promptTokens).padStart(13)}${String(r.completionTokens).padStart(13)}${usd(r.usdSync).padStart(11)}${usd(r.usdBatch).padStart(11)}\n`);
  }
  const sum = (f: (r: (typeof rows)[number]) => number) => rows.reduce((a, r) => a + f(r), 0);
  out.write(`${'total'.padEnd(37)}${`${sum((r) => r.callsMin)}–${sum((r) => r.callsMax)}`.padStart(20)}${String(sum((r) => r.promptTokens)).padStart(13)}${String(sum((r) => r.completionTokens)).padStart(13)}${usd(money.total.sync).padStart(11)}${usd(money.total.teacherBatch).padStart(11)}\n`);
  out.write(`\nmoney per stage and role (expected tokens; "batch" = the teacher (construct and kar) on the Batch API, the rest synchronous):\n`);
  for (const [k, m] of Object.entries(money.byStageRole)) {
    out.write(`  ${k.padEnd(20)}${(m.simulator ? 'simulator' : m.model).padEnd(22)}sync ${usd(m.usdSync).padStart(9)}   batch ${usd(m.usdBatch).padStart(9)}\n`);
  }
  out.write(`  ${'whole run'.padEnd(42)}sync ${usd(money.total.sync).padStart(9)}   batch ${usd(money.total.teacherBatch).padStart(9)}   (this config: ${config.llm.teacher?.batch.enabled ? 'batch' : 'sync'}, ${usd(money.total.planned)})\n`);
  const unpriced = [...new Set(rows.filter((r) => r.usdSync === null).map((r) => r.model))];
  if (unpriced.length) out.write(`no price for ${unpriced.join(', ')}: add it under llm.prices (USD per million tokens)\n`);
  out.write(`prices: built-in OpenAI list prices taken ${PRICES_TAKEN} (editable defaults; llm.prices overrides)\n`);
  out.write(`roles without an endpoint are served by the simulator (no cost): ${LLM_ROLES.filter((r) => roleSource(config.llm, r) === 'simulator').join(', ') || 'none'}\n`);
  const served = LLM_ROLES.filter((r) => roleSource(config.llm, r) === 'serve-model');
  if (served.length) out.write(`roles served by the local model server (no cost): ${served.join(', ')}\n`);
  return 0;
}
