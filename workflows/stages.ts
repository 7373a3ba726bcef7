// How the pipeline runs each stage of the DAG (core/rules/dag.ts): its child workflow(s), started by
// function reference so every result keeps its type (construct and refine: one per domain, in the
// DAG's domain waves), its block of the run summary, and what it hands to later stages.
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, executeChild, proxyActivities, type ChildWorkflowOptions } from '@temporalio/workflow';
import type { createKnowledgeImportActivities } from '../activities/knowledge-import';
import type { createPipelineActivities } from '../activities/pipeline';
import { DOMAINS, type Domain, type Stage } from '../config/names';
import type { R4ecConfig } from '../config/schema';
import { domainWaves, heartbeatTimeout, workflowIds, type ArtifactName, type StageArtifact } from '../core/rules';
import { constructDatasetWorkflow } from './construct';
import { encodeKnowledgeWorkflow } from './encode';
import { fineTuneWorkflow } from './finetune';
import { ingestDatasetWorkflow } from './ingest';
import { refineKnowledgeWorkflow } from './refine';
import { refineActivities } from './refine-shared';
import { reportWorkflow } from './report';
import { reportInput } from './report-input';
import { recordConstruct, recordFinetune, recordImport, recordIngest, recordRefine, recordReport, recordTrain, type KnowledgeImport, type PerDomain, type RunSummary } from './run-summary';
import { r4ecAttributes } from './search-attributes';
import type { DomainStageInput, StageInput, StageResult } from './stage-types';
import type { Stage as StageName } from '../config/names';
import { trainBackbonesWorkflow } from './train';

export type Artifacts = Partial<Record<ArtifactName, StageArtifact>>;

export interface StageRunContext {
  runId: string;
  config: R4ecConfig;
  /** Outside the run's selection: the stage only looks its output up. */
  lookupOnly: boolean;
  /** What earlier stages handed over. */
  artifacts: Artifacts;
  summary: RunSummary;
  /** Knowledge imported from files (`r4ec run --knowledge-from`): construct, finetune and refine do not run. */
  imported?: KnowledgeImport | undefined;
}

export interface StageRun {
  /** The stage children's outputs (the run summary's `artifacts`). */
  outputs: Array<[ArtifactName, StageArtifact]>;
  /** What later stages read besides those (refine: both domains' outputs merged, which encode reads). */
  handover: Array<[ArtifactName, StageArtifact]>;
  /** Every child found its output and computed nothing. */
  skipped: boolean;
}

function options(c: StageRunContext, stage: Stage, domain?: Domain): Omit<ChildWorkflowOptions, 'typeInfo'> {
  return {
    workflowId: workflowIds.stage(c.runId, stage, domain),
    taskQueue: c.config.queues.cpu.name,
    typedSearchAttributes: r4ecAttributes({ runId: c.runId, stage, ...(domain ? { domain } : {}) }),
  };
}

function input(c: StageRunContext, artifacts: Artifacts = c.artifacts): StageInput {
  return { runId: c.runId, config: c.config, artifacts: { ...artifacts }, lookupOnly: c.lookupOnly };
}

/** One child per domain, wave after wave; a later wave reads the outputs of the earlier ones. */
async function perDomain<R extends StageResult<unknown>>(c: StageRunContext, stage: 'construct' | 'refine', start: (input: DomainStageInput) => Promise<R>): Promise<PerDomain<R>> {
  const done: Partial<PerDomain<R>> = {};
  let artifacts = c.artifacts;
  for (const wave of domainWaves(stage, c.config)) {
    const results = await Promise.all(wave.map((domain) => start({ ...input(c, artifacts), domain })));
    wave.forEach((domain, i) => {
      done[domain] = results[i];
      artifacts = { ...artifacts, [`${stage}:${domain}` as const]: results[i]!.artifact };
    });
  }
  const { user, item } = done;
  if (!user || !item) throw new Error(`${stage}: the DAG's domain waves must cover every domain`);
  return { user, item };
}

function single(stage: Stage, r: StageResult<unknown>): StageRun {
  return { outputs: [[stage, r.artifact]], handover: [], skipped: r.skipped };
}

function perDomainRun(stage: 'construct' | 'refine', r: PerDomain<StageResult<unknown>>): StageRun {
  return { outputs: DOMAINS.map((d) => [`${stage}:${d}`, r[d].artifact]), handover: [], skipped: DOMAINS.every((d) => r[d].skipped) };
}

/** A stage that imported knowledge replaces: nothing computed, nothing looked up. */
const NOT_RUN: StageRun = { outputs: [], handover: [], skipped: true };

/**
 * The imported files become refine's output (content-keyed, written by an activity; the workflow
 * carries only the directory, the sets and the hash), which encode reads as it reads refine's.
 */
async function importKnowledge(c: StageRunContext, imported: KnowledgeImport): Promise<StageRun> {
  const { ingest } = c.artifacts;
  if (!ingest) throw ApplicationFailure.nonRetryable('importing knowledge needs the ingest output', 'MissingStageInput');
  const { importKnowledge: run } = proxyActivities<ReturnType<typeof createKnowledgeImportActivities>>({
    taskQueue: c.config.queues.cpu.name,
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: heartbeatTimeout(c.config.recovery?.heartbeatTimeoutSeconds),
    retry: { maximumAttempts: 3, nonRetryableErrorTypes: ['BadKnowledgeData', 'InvalidActivityInput'] },
  });
  const r = await run({ dir: imported.dir, sets: imported.sets, contentHash: imported.contentHash, ingest });
  recordImport(c.summary, imported, r.counts.records);
  return { outputs: [['refine', { key: r.key, contentHash: r.contentHash }]], handover: [], skipped: true };
}

export const STAGE_RUNNERS: Readonly<Record<Stage, (c: StageRunContext) => Promise<StageRun>>> = {
  async ingest(c) {
    const r = await executeChild(ingestDatasetWorkflow, { ...options(c, 'ingest'), args: [input(c)] });
    recordIngest(c.summary, r);
    return single('ingest', r);
  },

  async construct(c) {
    if (c.imported) return NOT_RUN;
    const r = await perDomain(c, 'construct', (i) => executeChild(constructDatasetWorkflow, { ...options(c, 'construct', i.domain), args: [i] }));
    recordConstruct(c.summary, r);
    return perDomainRun('construct', r);
  },

  async finetune(c) {
    if (c.imported) return NOT_RUN;
    const r = await executeChild(fineTuneWorkflow, { ...options(c, 'finetune'), args: [input(c)] });
    recordFinetune(c.summary, r);
    return single('finetune', r);
  },

  async refine(c) {
    if (c.imported) return importKnowledge(c, c.imported);
    const r = await perDomain(c, 'refine', (i) => executeChild(refineKnowledgeWorkflow, { ...options(c, 'refine', i.domain), args: [i] }));
    recordRefine(c.summary, r);
    // refine's stage output is both domains' knowledge files in one output: what encode reads.
    const merged = await refineActivities(c.config.queues.cpu.name, c.config.recovery?.heartbeatTimeoutSeconds).combineRefineOutputs({ user: r.user.artifact, item: r.item.artifact });
    return { ...perDomainRun('refine', r), handover: [['refine', { key: merged.key, contentHash: merged.contentHash }]] };
  },

  async encode(c) {
    return single('encode', await executeChild(encodeKnowledgeWorkflow, { ...options(c, 'encode'), args: [input(c)] }));
  },

  async train(c) {
    const r = await executeChild(trainBackbonesWorkflow, { ...options(c, 'train'), args: [input(c)] });
    recordTrain(c.summary, r);
    return single('train', r);
  },

  async report(c) {
    const r = await executeChild(reportWorkflow, { ...options(c, 'report'), args: [{ ...input(c), report: reportInput(c.config, c.summary) }] });
    recordReport(c.summary, r);
    return single('report', r);
  },
};

function isOutputMissing(err: unknown): boolean {
  let e: unknown = err;
  while ((e instanceof ChildWorkflowFailure || e instanceof ActivityFailure) && e.cause) e = e.cause;
  return e instanceof ApplicationFailure && e.type === 'StageOutputMissing';
}

/**
 * `r4ec run --force STAGE`: the stage's existing outputs for these inputs are looked up (its
 * workflow, outside the selection) and removed with their work areas, so the stage then computes
 * them again. A stage without an output has nothing to remove.
 */
export async function discardStage(stage: StageName, c: StageRunContext): Promise<void> {
  let found: StageRun;
  try {
    // A scratch summary: the lookup's blocks are not this run's.
    found = await STAGE_RUNNERS[stage]({ ...c, lookupOnly: true, summary: JSON.parse(JSON.stringify(c.summary)) as RunSummary });
  } catch (err) {
    if (isOutputMissing(err)) return;
    throw err;
  }
  const { discardStageOutputs } = proxyActivities<ReturnType<typeof createPipelineActivities>>({ taskQueue: c.config.queues.cpu.name, startToCloseTimeout: '10 minutes', retry: { maximumAttempts: 5 } });
  await discardStageOutputs({ outputs: found.outputs.map(([name, a]) => ({ name, key: a.key })) });
}
