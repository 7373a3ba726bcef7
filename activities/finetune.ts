// finetune activities. gpu queue: planFinetune (datasets, base model, job keys) → submitLoraJob per
// job (idempotent by job key; heartbeats step/loss/checkpoint; cancel stops the trainer, keeping its
// checkpoint) → commitFinetune (the stage output: which adapter serves which role). llm queue:
// loadFinetunedAdapter (vLLM's /v1/load_lora_adapter on the role's endpoint, by name).
import { ApplicationFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import { FinetuneSchema } from '../config/schema';
import {
  BaseModelRefSchema,
  PlannedJobSchema,
  adapterPathForServer,
  commitFinetune,
  getAdapter,
  planFinetune,
  submitLoraJob,
  type AdapterEntry,
  type FinetunePlan,
  type FinetuneSummary,
} from '../core/finetune';
import { loadLoraAdapter } from '../core/llm/adapters';
import { LlmError } from '../core/llm/errors';
import type { LlmRegistry } from '../core/llm/registry';
import { LORA_JOB_NAMES } from '../core/rules';
import { trainerPython } from '../core/python-job';
import type { ActivityDeps } from './deps';
import { toFailure } from './failure';
import { withHeartbeat } from './heartbeat';
import { cancellationOf } from './trainer-job';
import { parseInput } from './validate';

export type { FinetunePlan, FinetuneSummary, PlannedJob } from '../core/finetune';

const Artifact = z.object({ key: z.string().min(1), contentHash: z.string().min(1) });

const PlanInput = z.object({
  runId: z.string().min(1),
  finetune: FinetuneSchema,
  construct: z.object({ user: Artifact, item: Artifact }),
  lookupOnly: z.boolean().default(false),
});
export type PlanFinetuneInput = z.input<typeof PlanInput>;

const SubmitInput = z.object({ runId: z.string().min(1), job: PlannedJobSchema, finetune: FinetuneSchema, baseModel: BaseModelRefSchema });
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

/** The provider job id a previous attempt heartbeated (it re-attaches to that job). */
const ProviderHeartbeat = z.object({ jobId: z.string().min(1) });

export function createFinetuneActivities(deps: ActivityDeps) {
  const python = deps.python ?? trainerPython(deps.env);

  return {
    async planFinetune(raw: PlanFinetuneInput): Promise<FinetunePlan> {
      const input = parseInput(PlanInput, raw, 'planFinetune');
      try {
        return await withHeartbeat(() => planFinetune({ store: deps.store, stateDir: deps.stateDir, env: deps.env, python, finetune: input.finetune, construct: input.construct, lookupOnly: input.lookupOnly }));
      } catch (e) {
        throw toFailure(e);
      }
    },

    async submitLoraJob(raw: SubmitLoraJobInput): Promise<SubmitLoraJobOutput> {
      const input = parseInput(SubmitInput, raw, 'submitLoraJob');
      if (input.finetune.backend === 'none') throw ApplicationFailure.nonRetryable('finetune.backend is "none": no job to submit', 'InvalidActivityInput');
      const t0 = Date.now();
      const ctx = Context.current();
      const hint = ProviderHeartbeat.safeParse(ctx.info.heartbeatDetails);
      try {
        // The side timer covers what runs outside the trainer (the base model, uploads, registration).
        const r = await withHeartbeat((beat) => submitLoraJob({
          store: deps.store,
          stateDir: deps.stateDir,
          env: deps.env,
          python,
          ...(deps.devices ? { devices: deps.devices } : {}),
          job: input.job,
          finetune: input.finetune,
          baseModel: input.baseModel,
          signal: ctx.cancellationSignal,
          ...(hint.success ? { knownJobId: hint.data.jobId } : {}),
          log: (message, fields) => ctx.log.info(message, fields),
          heartbeat: (details) => beat(details),
        }));
        return { ...r, wallSeconds: (Date.now() - t0) / 1000 };
      } catch (e) {
        throw cancellationOf(ctx, e) ?? toFailure(e, { prefix: `lora ${input.job.name}` });
      }
    },

    async commitFinetune(raw: CommitFinetuneInput): Promise<{ key: string; contentHash: string; summary: FinetuneSummary }> {
      const input = parseInput(CommitInput, raw, 'commitFinetune');
      try {
        return await withHeartbeat(() => commitFinetune({ store: deps.store, ...input }));
      } catch (e) {
        throw toFailure(e);
      }
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
        // A path the serving host reads (a shared volume, its own sync of the store, or this machine's copy).
        const path = await withHeartbeat(async () => adapterPathForServer(deps.store, entry, endpoint.adapters));
        const r = await withHeartbeat(async () => loadLoraAdapter({ baseUrl: endpoint.baseUrl, name: entry.servedName, path, ...(apiKey ? { apiKey } : {}) }));
        return { servedName: entry.servedName, loaded: true, alreadyLoaded: r.alreadyLoaded, endpoint: endpoint.baseUrl };
      } catch (e) {
        throw e instanceof LlmError ? toFailure(e, { type: 'AdapterLoadFailed' }) : e;
      }
    },
  };
}
