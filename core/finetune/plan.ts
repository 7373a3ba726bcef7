// The finetune stage's plan: its output key, the base model, and per LoRA job its dataset (the
// construct files it trains on, merged and stored content-keyed) and its job key. A bad dataset or
// a missing model fails here, before any trainer starts.
import { join } from 'node:path';
import { z } from 'zod';
import { DOMAINS } from '../../config/names';
import { planStage } from '../stage/plan';
import { LORA_JOBS, LORA_JOB_NAMES, type LoraJobDef, type SftDatasetKind } from '../rules/jobs';
import type { StageArtifact, StagePlan } from '../rules/stage';
import { StageOutput, stageKey, type ArtifactStore } from '../store';
import { ensureTinyModel, localBaseModel } from './base-model';
import { FinetuneError } from './errors';
import { FINETUNE_CODE_VERSION, findDatasetFile, hyperParameters, loraJobKey, servedAdapterName, type FinetuneConfig } from './jobs';
import { mergeSftDatasets } from './sft';

export const BaseModelRefSchema = z.object({
  /** What the trainer loads: a local directory, or the provider's model name. */
  ref: z.string().min(1),
  identity: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('local'), path: z.string().min(1), configSha256: z.string().min(1) }),
    z.object({ kind: z.literal('provider'), name: z.string().min(1) }),
  ]),
});
export type BaseModelRef = z.infer<typeof BaseModelRefSchema>;

export const PlannedJobSchema = z.object({
  name: z.enum(LORA_JOB_NAMES),
  domain: z.enum(DOMAINS),
  role: z.enum(['actor', 'reflection']),
  jobKey: z.string().min(1),
  servedName: z.string().min(1),
  datasetKey: z.string().min(1),
  dataHash: z.string().min(1),
  records: z.number().int().positive(),
});
export type PlannedJob = z.infer<typeof PlannedJobSchema>;

/** The stage's block of the run summary. */
export interface FinetuneSummary {
  backend: 'local' | 'openai' | 'none';
  baseModel: string | null;
  adapters: Record<string, { servedName: string; jobKey: string; records: number; steps?: number; finalLoss?: number; trainSeconds?: number; tokensPerSecond?: number }>;
}

/** What is left to do: train these jobs on this base model (none for backend `none`). */
export interface FinetuneWork {
  baseModel: BaseModelRef | null;
  jobs: PlannedJob[];
}

export type FinetunePlan = StagePlan<FinetuneWork, FinetuneSummary>;

export interface PlanFinetuneOptions {
  store: ArtifactStore;
  stateDir: string;
  finetune: FinetuneConfig;
  construct: { user: StageArtifact; item: StageArtifact };
  lookupOnly: boolean;
  /** For building the tiny base model when none is configured. */
  python: string;
  env: NodeJS.ProcessEnv;
}

export function finetuneStageKey(ft: FinetuneConfig, construct: PlanFinetuneOptions['construct']): string {
  return stageKey({
    stage: 'finetune',
    codeVersion: FINETUNE_CODE_VERSION,
    config: { backend: ft.backend, baseModel: ft.baseModel ?? null, hyper: hyperParameters(ft) },
    inputs: [construct.user.contentHash, construct.item.contentHash],
  });
}

export function planFinetune(o: PlanFinetuneOptions): Promise<FinetunePlan> {
  return planStage({
    store: o.store,
    key: finetuneStageKey(o.finetune, o.construct),
    stage: 'finetune',
    lookupOnly: o.lookupOnly,
    summaryOf: (meta) => meta.summary as FinetuneSummary,
    work: async (): Promise<FinetuneWork> => {
      if (o.finetune.backend === 'none') return { baseModel: null, jobs: [] };
      const baseModel = await resolveBaseModel(o);
      const jobs: PlannedJob[] = [];
      for (const def of LORA_JOBS) jobs.push(await planJob(o, def, baseModel));
      return { baseModel, jobs };
    },
  });
}

/** The configured base model, or (local backend, none configured) the tiny offline model in the state dir. */
async function resolveBaseModel(o: PlanFinetuneOptions): Promise<BaseModelRef> {
  const ft = o.finetune;
  if (ft.backend === 'openai') {
    if (!ft.baseModel) throw new FinetuneError('BaseModelMissing', 'finetune.baseModel: name the provider model to fine-tune (e.g. gpt-4o-mini-2024-07-18)', false);
    return { ref: ft.baseModel, identity: { kind: 'provider', name: ft.baseModel } };
  }
  const identity = ft.baseModel ? await localBaseModel(ft.baseModel) : await ensureTinyModel({ python: o.python, outDir: join(o.stateDir, 'models', 'tiny-qwen2'), env: o.env });
  return { ref: identity.path, identity };
}

/** One job: its construct datasets merged (the actor's D_reason ∪ D_refine), stored, and keyed. */
async function planJob(o: PlanFinetuneOptions, def: LoraJobDef, baseModel: BaseModelRef): Promise<PlannedJob> {
  const artifact = o.construct[def.domain];
  const parts = [];
  for (const kind of def.datasets) {
    const part = await readConstructFile(o.store, artifact, def.domain, kind);
    if (part) parts.push(part);
  }
  const merged = mergeSftDatasets(parts);
  if (merged.records === 0) {
    const looked = def.datasets.map((d) => `D_${d}`).join(' ∪ ');
    const found = parts.map((p) => p.source).join(', ') || 'no dataset files';
    throw new FinetuneError('EmptyDataset', `${def.name}: no SFT records in ${looked} of ${artifact.key} (${found}); nothing to fine-tune`, false);
  }
  const datasetKey = `finetune-data/${merged.hash.slice(0, 32)}.jsonl`;
  if (!(await o.store.exists(datasetKey))) await o.store.put(datasetKey, merged.jsonl);
  const backend = o.finetune.backend as 'local' | 'openai';
  const jobKey = loraJobKey({ backend, baseModel: baseModel.identity, dataHash: merged.hash, hyper: hyperParameters(o.finetune) });
  return { name: def.name, domain: def.domain, role: def.role, jobKey, servedName: servedAdapterName(def.name, jobKey), datasetKey, dataHash: merged.hash, records: merged.records };
}

async function readConstructFile(store: ArtifactStore, artifact: StageArtifact, domain: string, kind: SftDatasetKind): Promise<{ source: string; text: string } | undefined> {
  const out = new StageOutput(store, artifact.key);
  if (!(await out.isComplete())) {
    throw new FinetuneError('MissingStageInput', `construct output ${artifact.key} (${domain}) is not complete in ${store.description}`, false);
  }
  const name = findDatasetFile(Object.keys((await out.manifest()).files), kind);
  if (!name) return undefined;
  return { source: `${artifact.key}/${name}`, text: (await store.get(out.objectKey(name))).toString('utf8') };
}
