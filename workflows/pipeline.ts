// r4ecPipelineWorkflow: ingest → construct(user, item) → finetune → refine(item, user) → encode →
// train → report, each a child workflow. Its input is the plain JSON config, so operators can start
// it with `temporal workflow start --input-file cfg.json`; validation happens in the first activity.
import {
  ApplicationFailure,
  ChildWorkflowFailure,
  defineQuery,
  executeChild,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createPipelineActivities } from '../activities/pipeline';
import { DOMAINS, STAGES, type Domain, type Stage } from '../config/names';
import type { R4ecConfig } from '../config/schema';
import { addUsage, workflowIds, zeroUsage, type LlmUsage } from '../core/rules';
import { STAGE_WORKFLOWS } from './registry';
import { refineActivities } from './refine-shared';
import { r4ecAttributes } from './search-attributes';
import type { ArtifactName, StageArtifact, StageResult } from './stage-types';

export interface StageSelection {
  only?: Stage[];
  from?: Stage;
  until?: Stage;
}

export type StageStatus = 'pending' | 'running' | 'completed' | 'skipped' | 'failed';

export interface StageProgress {
  status: StageStatus;
  seconds: number;
  skipped: boolean;
  /** Whether the stage computed (selected) or only looked up its existing output. */
  selected: boolean;
  /** Epoch ms when it started running (for live elapsed times). */
  startedAt?: number;
}

export interface RunSummary {
  runId: string;
  configHash: string;
  stages: Partial<Record<Stage, { status: StageStatus; seconds: number; skipped: boolean }>>;
  ingest?: Record<string, number>;
  construct?: { outcomes: Partial<Record<Domain, Record<string, number>>> };
  refine?: { outcomes: Partial<Record<Domain, Record<string, number>>> };
  train?: Record<string, unknown>;
  report?: Record<string, unknown>;
  llm: LlmUsage;
  /** Each stage's own `llm` block (with `byRole`/`latencyMs` when the stage reports them), for the report. */
  llmByStage: Partial<Record<Stage, Record<string, unknown>>>;
  artifacts: Partial<Record<ArtifactName, StageArtifact>>;
  error?: string;
}

export const progressQuery = defineQuery<{ runId: string; stages: Partial<Record<Stage, StageProgress>>; current?: Stage }>('progress');
export const summaryQuery = defineQuery<RunSummary>('summary');

/** Which stages compute in this run; the others before them only look up their outputs. */
export function selectStages(sel: StageSelection | undefined): Stage[] {
  if (!sel) return [...STAGES];
  if (sel.only?.length) return STAGES.filter((s) => sel.only!.includes(s));
  const from = sel.from ? STAGES.indexOf(sel.from) : 0;
  const until = sel.until ? STAGES.indexOf(sel.until) : STAGES.length - 1;
  return STAGES.filter((_, i) => i >= from && i <= until);
}

export async function r4ecPipelineWorkflow(rawConfig: unknown, selection?: StageSelection): Promise<RunSummary> {
  const runId = workflowInfo().workflowId;
  const { resolvePipelineConfig } = proxyActivities<ReturnType<typeof createPipelineActivities>>({
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 3 },
  });
  const { config, configHash } = await resolvePipelineConfig({ raw: rawConfig, runId });
  upsertSearchAttributes(r4ecAttributes({ runId, stage: 'pipeline' }));

  const selected = selectStages(selection);
  // Unselected stages are looked up only when a selected stage reads their output.
  const needed = neededStages(selected, config);
  const plan = STAGES.filter((s) => selected.includes(s) || needed.has(s));
  for (const stage of selected) {
    if (!STAGE_WORKFLOWS[stage]) {
      throw ApplicationFailure.nonRetryable(
        `stage "${stage}" is not available in this build (available: ${Object.keys(STAGE_WORKFLOWS).join(', ')})`,
        'StageNotAvailable',
      );
    }
  }

  const progress: Partial<Record<Stage, StageProgress>> = {};
  for (const s of plan) progress[s] = { status: 'pending', seconds: 0, skipped: false, selected: selected.includes(s) };
  const summary: RunSummary = { runId, configHash, stages: {}, llm: zeroUsage(), llmByStage: {}, artifacts: {} };
  // What later stages read: every stage output, and refine's merge of its two domains.
  const handed: Partial<Record<ArtifactName, StageArtifact>> = {};
  let current: Stage | undefined;
  setHandler(progressQuery, () => ({ runId, stages: progress, ...(current ? { current } : {}) }));
  setHandler(summaryQuery, () => summary);

  for (const stage of plan) {
    const spec = STAGE_WORKFLOWS[stage];
    const lookupOnly = !selected.includes(stage);
    if (!spec) {
      // An unselected stage that is not built yet: later selected stages cannot have its output.
      if (lookupOnly) continue;
      break;
    }
    current = stage;
    const p = progress[stage]!;
    p.status = 'running';
    const started = Date.now();
    p.startedAt = started;
    try {
      const results = await runStage(stage, config, runId, summary, handed, lookupOnly);
      p.skipped = results.every((r) => r.result.skipped);
      p.status = p.skipped ? 'skipped' : 'completed';
      for (const { name, result } of results) {
        summary.artifacts[name] = handed[name] = result.artifact;
        const extra = result.summary.llm as (Partial<LlmUsage> & Record<string, unknown>) | undefined;
        summary.llm = addUsage(summary.llm, extra);
        if (extra) {
          const byStage = (summary.llmByStage[stage] ??= { ...zeroUsage() });
          Object.assign(byStage, addUsage(byStage as unknown as LlmUsage, extra));
          if (extra.byRole) summary.llmByStage[stage]!.byRole = extra.byRole;
          if (extra.latencyMs) summary.llmByStage[stage]!.latencyMs = extra.latencyMs;
        }
      }
      if (stage === 'refine') {
        const merged = await refineActivities(config.queues.cpu.name).combineRefineOutputs({ user: handed['refine:user']!, item: handed['refine:item']! });
        handed.refine = { key: merged.key, contentHash: merged.contentHash };
      }
      recordSummary(summary, stage, results);
    } catch (err) {
      p.status = 'failed';
      p.seconds = (Date.now() - started) / 1000;
      summary.stages[stage] = { status: p.status, seconds: p.seconds, skipped: false };
      summary.error = `${stage}: ${failureMessage(err)}`;
      throw ApplicationFailure.nonRetryable(`stage ${stage} failed: ${failureMessage(err)}`, 'StageFailed', summary);
    }
    p.seconds = (Date.now() - started) / 1000;
    summary.stages[stage] = { status: p.status, seconds: p.seconds, skipped: p.skipped };
  }
  current = undefined;
  return summary;
}

async function runStage(
  stage: Stage,
  config: R4ecConfig,
  runId: string,
  summary: RunSummary,
  handed: Partial<Record<ArtifactName, StageArtifact>>,
  lookupOnly: boolean,
): Promise<Array<{ name: ArtifactName; result: StageResult }>> {
  const spec = STAGE_WORKFLOWS[stage]!;
  const base = { runId, config, artifacts: { ...handed }, lookupOnly, ...(stage === 'report' ? { report: reportInput(config, summary) } : {}) };
  const child = (workflowId: string, input: object, attrs: { domain?: Domain }) =>
    executeChild(spec.workflowType, {
      workflowId,
      args: [input],
      taskQueue: config.queues.cpu.name,
      typedSearchAttributes: r4ecAttributes({ runId, stage, ...attrs }),
    }) as Promise<StageResult>;
  if (!spec.perDomain) return [{ name: stage, result: await child(workflowIds.stage(runId, stage), base, {}) }];
  const name = (d: Domain) => `${stage}:${d}` as ArtifactName;
  if (stage === 'refine' && config.refine.activeUserMinInteractions > 0) {
    // Approximated users are built from item knowledge: items first.
    const item = await child(workflowIds.stage(runId, stage, 'item'), { ...base, domain: 'item' }, { domain: 'item' });
    const user = await child(workflowIds.stage(runId, stage, 'user'), { ...base, artifacts: { ...base.artifacts, [name('item')]: item.artifact }, domain: 'user' }, { domain: 'user' });
    return [
      { name: name('user'), result: user },
      { name: name('item'), result: item },
    ];
  }
  const results = await Promise.all(DOMAINS.map((d) => child(workflowIds.stage(runId, stage, d), { ...base, domain: d }, { domain: d })));
  return DOMAINS.map((d, i) => ({ name: name(d), result: results[i]! }));
}

/** The stages whose outputs the selected ones read, transitively (train on `base` alone needs no knowledge). */
export function neededStages(selected: Stage[], config: R4ecConfig): Set<Stage> {
  const out = new Set<Stage>();
  const visit = (s: Stage) => {
    let needs = STAGE_WORKFLOWS[s]?.needs ?? [];
    if (s === 'train' && config.train.variants.every((v) => v === 'base')) needs = needs.filter((n) => n !== 'encode');
    if (s === 'refine' && config.finetune.backend !== 'none') needs = [...needs, 'finetune'];
    // The report covers what this run computed; alone, it reports on the whole DAG's outputs.
    if (s === 'report') needs = selected.length > 1 ? [] : ['train', 'refine', 'construct'];
    for (const n of needs) {
      if (out.has(n)) continue;
      out.add(n);
      visit(n);
    }
  };
  selected.forEach(visit);
  return out;
}

function reportInput(config: R4ecConfig, s: RunSummary) {
  const llm = config.llm;
  return {
    runId: s.runId,
    datasetKind: config.dataset.kind,
    // The simulator serves every role without an endpoint; say so when knowledge stages ran on it.
    simulator: (!llm.teacher || !llm.actor || !llm.reflection) && Boolean(s.construct || s.refine),
    stages: s.stages,
    ...(s.ingest ? { ingest: s.ingest } : {}),
    ...(s.construct ? { construct: s.construct } : {}),
    ...(s.refine ? { refine: s.refine } : {}),
    ...(s.train ? { train: s.train } : {}),
    llm: s.llm,
    llmByStage: s.llmByStage,
    artifacts: { ...(s.artifacts.ingest ? { ingest: s.artifacts.ingest.key } : {}), ...(s.artifacts.train ? { train: s.artifacts.train.key } : {}) },
  };
}

function recordSummary(summary: RunSummary, stage: Stage, results: Array<{ name: ArtifactName; result: StageResult }>): void {
  if (stage === 'construct' || stage === 'refine') {
    const outcomes: Partial<Record<Domain, Record<string, number>>> = {};
    for (const { name, result } of results) {
      const d = name.split(':')[1] as Domain;
      outcomes[d] = ((result.summary as { outcomes?: Record<string, number> }).outcomes ?? {}) as Record<string, number>;
    }
    summary[stage] = { outcomes };
    return;
  }
  const only = results[0]?.result.summary;
  if (!only) return;
  const { llm: _llm, ...rest } = only as Record<string, unknown>;
  if (stage === 'ingest') summary.ingest = rest as Record<string, number>;
  else if (stage === 'train') summary.train = rest;
  else if (stage === 'report') summary.report = rest;
}

function failureMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof ChildWorkflowFailure && e.cause) e = e.cause;
  while (e instanceof ApplicationFailure && e.cause) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}
