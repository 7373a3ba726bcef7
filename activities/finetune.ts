// finetune activities. gpu queue: planFinetune (datasets, base model, job keys) → submitLoraJob per
// job (idempotent by job key; heartbeats step/loss/checkpoint; cancel stops the trainer, keeping its
// checkpoint) → commitFinetune (the stage output: which adapter serves which role). llm queue:
// loadFinetunedAdapter (vLLM's /v1/load_lora_adapter on the role's endpoint, by name).
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import OpenAI from 'openai';
import { z } from 'zod';
import { DOMAINS } from '../config/names';
import { FinetuneSchema } from '../config/schema';
import {
  FINETUNE_CODE_VERSION,
  FinetuneError,
  JobCancelled,
  OpenAiJobCancelled,
  adapterLocalDir,
  ensureTinyModel,
  findDatasetFile,
  finishedAdapter,
  getAdapter,
  hyperParameters,
  localBaseModel,
  loraJobKey,
  mergeSftDatasets,
  registerAdapter,
  runLocalJob,
  runOpenAiJob,
  servedAdapterName,
  type AdapterEntry,
  type BaseModelIdentity,
  type JobState,
} from '../core/finetune';
import { loadLoraAdapter } from '../core/llm/adapters';
import { LlmError } from '../core/llm/errors';
import type { LlmRegistry } from '../core/llm/registry';
import { StageOutput, stageKey } from '../core/store';
import { LORA_JOB_NAMES, LORA_JOBS } from '../core/rules';
import type { ActivityDeps } from './deps';
import { toFailure } from './failure';
import { parseInput } from './validate';

/** Repository root: `python -m trainer.lora.train` runs from here. */
const TRAINER_ROOT = resolve(__dirname, '..');

const Artifact = z.object({ key: z.string().min(1), contentHash: z.string().min(1) });
const Identity = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('local'), path: z.string().min(1), configSha256: z.string().min(1) }),
  z.object({ kind: z.literal('provider'), name: z.string().min(1) }),
]);

const PlanInput = z.object({
  runId: z.string().min(1),
  finetune: FinetuneSchema,
  construct: z.object({ user: Artifact, item: Artifact }),
  lookupOnly: z.boolean().default(false),
});
export type PlanFinetuneInput = z.input<typeof PlanInput>;

const PlannedJob = z.object({
  name: z.enum(LORA_JOB_NAMES),
  domain: z.enum(DOMAINS),
  role: z.enum(['actor', 'reflection']),
  jobKey: z.string().min(1),
  servedName: z.string().min(1),
  datasetKey: z.string().min(1),
  dataHash: z.string().min(1),
  records: z.number().int().positive(),
});
export type PlannedJob = z.infer<typeof PlannedJob>;

export interface FinetuneSummary {
  backend: 'local' | 'openai' | 'none';
  baseModel: string | null;
  adapters: Record<string, { servedName: string; jobKey: string; records: number; steps?: number; finalLoss?: number; trainSeconds?: number; tokensPerSecond?: number }>;
}

export interface PlanFinetuneOutput {
  key: string;
  skipped: boolean;
  contentHash?: string;
  summary?: FinetuneSummary;
  baseModel?: { ref: string; identity: BaseModelIdentity };
  jobs: PlannedJob[];
}

const SubmitInput = z.object({
  runId: z.string().min(1),
  job: PlannedJob,
  finetune: FinetuneSchema,
  baseModel: z.object({ ref: z.string().min(1), identity: Identity }),
});
export type SubmitLoraJobInput = z.input<typeof SubmitInput>;
export interface SubmitLoraJobOutput {
  entry: AdapterEntry;
  /** The job was registered before this attempt (nothing ran). */
  reused: boolean;
  /** This attempt followed a trainer / provider job it did not start. */
  attached: boolean;
  /** Wall time of this attempt, for the orchestration-overhead figure. */
  wallSeconds: number;
}

const CommitInput = z.object({
  key: z.string().min(1),
  runId: z.string().min(1),
  backend: z.enum(['local', 'openai', 'none']),
  baseModel: z.string().nullable(),
  jobs: z.array(z.object({ name: z.enum(LORA_JOB_NAMES), jobKey: z.string().min(1) })),
});
export type CommitFinetuneInput = z.input<typeof CommitInput>;

const LoadInput = z.object({ jobKey: z.string().min(1) });
export type LoadFinetunedAdapterInput = z.input<typeof LoadInput>;
export interface LoadFinetunedAdapterOutput {
  servedName: string;
  loaded: boolean;
  alreadyLoaded: boolean;
  endpoint: string | null;
}

/** The stage output's file: which served model each job's role uses. */
export const ADAPTERS_FILE = 'adapters.json';

function cancelled(ctx: Context): CancelledFailure {
  const reason: unknown = ctx.cancellationSignal.reason;
  return reason instanceof CancelledFailure ? reason : new CancelledFailure('CANCELLED');
}

export function jobDirOf(stateDir: string, jobKey: string): string {
  return join(stateDir, 'finetune', 'jobs', jobKey);
}

export function createFinetuneActivities(deps: ActivityDeps) {
  const python = deps.python ?? 'python3';

  async function resolveBaseModel(ft: z.infer<typeof FinetuneSchema>): Promise<{ ref: string; identity: BaseModelIdentity }> {
    if (ft.backend === 'openai') {
      if (!ft.baseModel) throw new FinetuneError('BaseModelMissing', 'finetune.baseModel: name the provider model to fine-tune (e.g. gpt-4o-mini-2024-07-18)', false);
      return { ref: ft.baseModel, identity: { kind: 'provider', name: ft.baseModel } };
    }
    const identity = ft.baseModel
      ? await localBaseModel(ft.baseModel)
      : await ensureTinyModel({ python, trainerRoot: TRAINER_ROOT, outDir: join(deps.stateDir, 'models', 'tiny-qwen2'), env: deps.env });
    return { ref: identity.path, identity };
  }

  async function readConstructFile(artifact: z.infer<typeof Artifact>, domain: string, kind: 'reason' | 'reflect' | 'refine'): Promise<{ source: string; text: string } | undefined> {
    const out = new StageOutput(deps.store, artifact.key);
    if (!(await out.isComplete())) {
      throw new FinetuneError('MissingStageInput', `construct output ${artifact.key} (${domain}) is not complete in ${deps.store.description}`, false);
    }
    const files = Object.keys((await out.manifest()).files);
    const name = findDatasetFile(files, kind);
    if (!name) return undefined;
    return { source: `${artifact.key}/${name}`, text: (await deps.store.get(out.objectKey(name))).toString('utf8') };
  }

  return {
    async planFinetune(raw: PlanFinetuneInput): Promise<PlanFinetuneOutput> {
      const input = parseInput(PlanInput, raw, 'planFinetune');
      const ft = input.finetune;
      const key = stageKey({
        stage: 'finetune',
        codeVersion: FINETUNE_CODE_VERSION,
        config: { backend: ft.backend, baseModel: ft.baseModel ?? null, hyper: hyperParameters(ft) },
        inputs: [input.construct.user.contentHash, input.construct.item.contentHash],
      });
      const out = new StageOutput(deps.store, key);
      if (await out.isComplete()) {
        const m = await out.manifest();
        return { key, skipped: true, contentHash: await out.contentHash(), summary: m.meta.summary as FinetuneSummary, jobs: [] };
      }
      if (input.lookupOnly) throw ApplicationFailure.nonRetryable(`finetune output ${key} does not exist for these inputs`, 'StageOutputMissing');
      if (ft.backend === 'none') return { key, skipped: false, jobs: [] };
      try {
        const baseModel = await resolveBaseModel(ft);
        const hyper = hyperParameters(ft);
        const jobs: PlannedJob[] = [];
        for (const def of LORA_JOBS) {
          const artifact = input.construct[def.domain];
          const parts = [];
          for (const kind of def.datasets) {
            const part = await readConstructFile(artifact, def.domain, kind);
            if (part) parts.push(part);
          }
          const merged = mergeSftDatasets(parts);
          if (merged.records === 0) {
            const looked = def.datasets.map((d) => `D_${d}`).join(' ∪ ');
            const found = parts.map((p) => p.source).join(', ') || 'no dataset files';
            throw new FinetuneError('EmptyDataset', `${def.name}: no SFT records in ${looked} of ${artifact.key} (${found}); nothing to fine-tune`, false);
          }
          const datasetKey = `finetune-data/${merged.hash.slice(0, 32)}.jsonl`;
          if (!(await deps.store.exists(datasetKey))) await deps.store.put(datasetKey, merged.jsonl);
          const backend = ft.backend;
          const jobKey = loraJobKey({ backend, baseModel: baseModel.identity, dataHash: merged.hash, hyper });
          jobs.push({ name: def.name, domain: def.domain, role: def.role, jobKey, servedName: servedAdapterName(def.name, jobKey), datasetKey, dataHash: merged.hash, records: merged.records });
        }
        return { key, skipped: false, baseModel, jobs };
      } catch (e) {
        if (e instanceof FinetuneError) throw toFailure(e);
        throw e;
      }
    },

    async submitLoraJob(raw: SubmitLoraJobInput): Promise<SubmitLoraJobOutput> {
      const input = parseInput(SubmitInput, raw, 'submitLoraJob');
      const { job, finetune: ft } = input;
      const t0 = Date.now();
      const done = (entry: AdapterEntry, reused: boolean, attached: boolean) => ({ entry, reused, attached, wallSeconds: (Date.now() - t0) / 1000 });
      const known = await getAdapter(deps.store, job.jobKey);
      if (known) return done(known, true, false);
      if (ft.backend === 'none') throw ApplicationFailure.nonRetryable('finetune.backend is "none": no job to submit', 'InvalidActivityInput');

      const ctx = Context.current();
      const jobDir = jobDirOf(deps.stateDir, job.jobKey);
      const base = {
        jobKey: job.jobKey,
        job: job.name,
        domain: job.domain,
        role: job.role,
        backend: ft.backend,
        baseModel: input.baseModel.ref,
        dataHash: job.dataHash,
        records: job.records,
        hyperParameters: hyperParameters(ft),
        createdAt: new Date().toISOString(),
      };
      try {
        if (ft.backend === 'openai') {
          const apiKey = deps.env[ft.openai.apiKeyEnv];
          if (!apiKey) {
            throw new FinetuneError('ProviderError', `finetune.openai: the environment variable ${ft.openai.apiKeyEnv} (the API key) is not set on the gpu worker`, false);
          }
          const client = new OpenAI({ apiKey, ...(ft.openai.baseUrl ? { baseURL: ft.openai.baseUrl } : {}), maxRetries: 2 });
          const hint = ctx.info.heartbeatDetails as { jobId?: string } | undefined;
          await mkdir(jobDir, { recursive: true });
          const r = await runOpenAiJob({
            client,
            jobKey: job.jobKey,
            datasetPath: await deps.store.localPath(job.datasetKey),
            baseModel: input.baseModel.ref,
            hyper: { epochs: ft.lora.epochs, batchSize: ft.lora.batchSize, learningRateMultiplier: ft.openai.learningRateMultiplier, seed: ft.lora.seed },
            jobDir,
            pollMs: ft.openai.pollIntervalSeconds * 1000,
            signal: ctx.cancellationSignal,
            knownJobId: hint?.jobId,
            onEvent: (e, j) => ctx.log.info(`fine-tuning job ${j.id}: ${e.message}`),
            onPoll: (j) => ctx.heartbeat({ jobKey: job.jobKey, jobId: j.id, status: j.status, trainedTokens: j.trained_tokens }),
          });
          const metrics = { trainedTokens: r.job.trained_tokens, events: r.events, status: r.job.status };
          const { entry } = await registerAdapter(deps.store, { ...base, servedName: r.fineTunedModel, metrics, jobId: r.job.id });
          return done(entry, false, r.attached);
        }

        // local backend
        const finished = await finishedAdapter(jobDir, job.jobKey);
        if (finished) {
          const { entry } = await registerAdapter(deps.store, { ...base, servedName: job.servedName, metrics: finished.metrics, jobId: `local:${job.jobKey}` }, finished.adapterDir);
          return done(entry, false, false);
        }
        const beat = (s: JobState) =>
          ctx.heartbeat({ jobKey: job.jobKey, pid: s.pid, step: s.step, totalSteps: s.totalSteps, loss: s.loss, checkpoint: s.checkpoint, checkpointStep: s.checkpointStep, attached: s.attached });
        const r = await runLocalJob({
          jobDir,
          python,
          trainerRoot: TRAINER_ROOT,
          env: deps.env,
          pollMs: ft.pollIntervalMs,
          stopGraceMs: ft.stopGraceSeconds * 1000,
          signal: ctx.cancellationSignal,
          spec: {
            jobKey: job.jobKey,
            baseModel: input.baseModel.ref,
            dataset: await deps.store.localPath(job.datasetKey),
            workDir: jobDir,
            lora: { r: ft.lora.r, alpha: ft.lora.alpha, dropout: ft.lora.dropout, targetModules: ft.lora.targetModules },
            train: {
              epochs: ft.lora.epochs,
              learningRate: ft.lora.learningRate,
              scheduler: ft.lora.scheduler,
              warmupRatio: ft.lora.warmupRatio,
              batchSize: ft.lora.batchSize,
              microBatchSize: ft.lora.microBatchSize ?? null,
              cutoffLen: ft.lora.cutoffLen,
              checkpointEvery: ft.lora.checkpointEvery,
              seed: ft.lora.seed,
              device: ft.device,
              threads: ft.cpuThreads ?? null,
              gradientCheckpointing: ft.lora.gradientCheckpointing,
            },
          },
          onEvent: (e, s) => {
            if (e.event !== 'step') ctx.log.info(`lora ${job.name}: ${e.event}`, { ...e });
            beat(s);
          },
          onPoll: beat,
        });
        const { event: _e, pid: _p, t: _t, adapterDir: _a, ...metrics } = r.done;
        const { entry } = await registerAdapter(
          deps.store,
          { ...base, servedName: job.servedName, metrics: { ...metrics, resumedFromStep: r.state.startStep ?? 0, launches: r.state.launches }, jobId: `local:${job.jobKey}` },
          r.adapterDir,
        );
        return done(entry, false, r.state.attached);
      } catch (e) {
        if (e instanceof JobCancelled || e instanceof OpenAiJobCancelled) {
          ctx.log.warn(`lora ${job.name}: ${e.message}`);
          throw cancelled(ctx);
        }
        if (e instanceof FinetuneError) throw toFailure(e);
        throw e;
      }
    },

    async commitFinetune(raw: CommitFinetuneInput): Promise<{ key: string; contentHash: string; summary: FinetuneSummary }> {
      const input = parseInput(CommitInput, raw, 'commitFinetune');
      const out = new StageOutput(deps.store, input.key);
      if (await out.isComplete()) {
        return { key: input.key, contentHash: await out.contentHash(), summary: (await out.manifest()).meta.summary as FinetuneSummary };
      }
      const summary: FinetuneSummary = { backend: input.backend, baseModel: input.baseModel, adapters: {} };
      const adapters: Record<string, AdapterEntry> = {};
      for (const j of input.jobs) {
        const entry = await getAdapter(deps.store, j.jobKey);
        if (!entry) throw ApplicationFailure.nonRetryable(`commitFinetune: job ${j.name} (${j.jobKey}) has no registered adapter`, 'MissingAdapter');
        adapters[j.name] = entry;
        const m = entry.metrics as Record<string, number | undefined>;
        summary.adapters[j.name] = {
          servedName: entry.servedName,
          jobKey: entry.jobKey,
          records: entry.records,
          ...(m.steps !== undefined ? { steps: m.steps } : {}),
          ...(m.finalLoss !== undefined ? { finalLoss: m.finalLoss } : {}),
          ...(m.trainSeconds !== undefined ? { trainSeconds: m.trainSeconds } : {}),
          ...(m.tokensPerSecond !== undefined ? { tokensPerSecond: m.tokensPerSecond } : {}),
        };
      }
      await out.putJson(ADAPTERS_FILE, { backend: input.backend, baseModel: input.baseModel, adapters });
      const contentHash = await out.commit('finetune', { runId: input.runId, summary });
      return { key: input.key, contentHash, summary };
    },
  };
}

/** The llm worker adds its client registry (the role's endpoint, or the simulator). */
export interface ServingActivityDeps extends ActivityDeps {
  llm?: LlmRegistry;
}

export function createAdapterServingActivities(deps: ServingActivityDeps) {
  return {
    async loadFinetunedAdapter(raw: LoadFinetunedAdapterInput): Promise<LoadFinetunedAdapterOutput> {
      const input = parseInput(LoadInput, raw, 'loadFinetunedAdapter');
      const entry = await getAdapter(deps.store, input.jobKey);
      if (!entry) throw ApplicationFailure.nonRetryable(`loadFinetunedAdapter: no adapter registered for job ${input.jobKey}`, 'MissingAdapter');
      // A provider's fine-tuned model is served by the provider under its own name.
      if (!entry.adapterKey) return { servedName: entry.servedName, loaded: false, alreadyLoaded: false, endpoint: null };
      if (!deps.llm) {
        throw ApplicationFailure.nonRetryable('loadFinetunedAdapter: this worker has no LLM registry (start it with `r4ec worker --queue llm`)', 'LlmNotConfigured');
      }
      const endpoint = deps.llm.endpointFor(entry.role);
      const apiKey = endpoint.apiKeyEnv ? deps.env[endpoint.apiKeyEnv] : undefined;
      try {
        const r = await loadLoraAdapter({ baseUrl: endpoint.baseUrl, name: entry.servedName, path: await adapterLocalDir(deps.store, entry), ...(apiKey ? { apiKey } : {}) });
        return { servedName: entry.servedName, loaded: true, alreadyLoaded: r.alreadyLoaded, endpoint: endpoint.baseUrl };
      } catch (e) {
        if (e instanceof LlmError) {
          throw toFailure(e, { type: 'AdapterLoadFailed' });
        }
        throw e;
      }
    },
  };
}
