// What one refine(domain) stage computes and under which key: the config slice it reads, the models
// each role asks (the fine-tuned adapters from the finetune output, else the roles' base models),
// and a pointer from the run to its stage (what `rerun --failed` starts from).
import { z } from 'zod';
import { LLM_ROLES, type Domain, type LlmRole } from '../../config/names';
import { R4ecConfigSchema, type R4ecConfig } from '../../config/schema';
import { roleSource } from '../rules/roles';
import { StageOutput, stageKey, type ArtifactStore } from '../store';
import { RefineDataError } from './errors';

/** Bump when refine's output for the same inputs changes. */
export const REFINE_CODE_VERSION = '1';

export interface ArtifactRef {
  key: string;
  contentHash: string;
}

/** Which model each role asks; undefined = the role endpoint's configured (base) model. */
export type RoleModels = Partial<Record<LlmRole, string>>;

/** What decides the answers of a role: its endpoint and sampling, or the simulator's model and seed. */
export function roleIdentity(config: R4ecConfig, role: LlmRole): Record<string, unknown> {
  const e = config.llm[role];
  if (e) return { baseUrl: e.baseUrl, model: e.model, temperature: e.temperature, topP: e.topP, maxTokens: e.maxTokens };
  if (roleSource(config.llm, role) === 'serve-model') {
    // Its port is picked at start: the base model and the sampling decide the answers.
    const s = config.llm.serveModel;
    return { serveModel: s.base ?? (config.finetune.backend === 'local' ? config.finetune.baseModel : undefined) ?? 'default', temperature: s.temperature, topP: s.topP, maxTokens: s.maxTokens };
  }
  return { simulator: config.llm.simulator.model, seed: config.llm.simulator.seed };
}

/**
 * The config slice refine(domain) reads. Operational knobs (window, batch size, retry budgets, the
 * call cap, fault rates) are left out: changing them must not invalidate finished work.
 */
export function refineConfigSlice(config: R4ecConfig, domain: Domain): Record<string, unknown> {
  const r = config.refine;
  return {
    domain,
    strategy: r.strategy,
    ...(r.strategy === 'iterative' ? { maxIterations: r.maxIterations } : { filterSamples: r.filterSamples }),
    historyLength: r.historyLength,
    ...(domain === 'user' ? { activeUserMinInteractions: r.activeUserMinInteractions } : {}),
    models: Object.fromEntries(LLM_ROLES.map((role) => [role, roleIdentity(config, role)])),
    // The prompts show only the cutoff's prefix; absent when off, so keys without a cutoff stay as they were.
    ...(config.train.knowledgeCutoff > 0 ? { knowledgeCutoff: config.train.knowledgeCutoff } : {}),
  };
}

export function refineStageKey(config: R4ecConfig, domain: Domain, ingest: ArtifactRef, finetune: ArtifactRef | undefined): string {
  return stageKey({
    stage: 'refine',
    codeVersion: REFINE_CODE_VERSION,
    config: refineConfigSlice(config, domain),
    inputs: [ingest.contentHash, finetune?.contentHash ?? 'no-finetune'],
  });
}

const AdapterRef = z
  .object({ job: z.enum(['user-actor', 'user-reflection', 'item-actor', 'item-reflection']), servedName: z.string().min(1), jobKey: z.string().min(1).optional() })
  .passthrough();
const Adapters = z.union([z.array(AdapterRef), z.record(z.string(), AdapterRef).transform((v) => Object.values(v))]);
const AdapterList = z.union([Adapters, z.object({ adapters: Adapters }).passthrough().transform((v) => v.adapters)]);

/** The finetune output's file listing its adapters (activities/finetune.ts writes it; meta.adapters is read too). */
export const ADAPTERS_FILE = 'adapters.json';

export interface ResolvedModels {
  models: RoleModels;
  /** Job keys of the adapters used, so the stage can make sure the endpoint serves them. */
  adapterJobKeys: string[];
}

/**
 * Actor and reflection models for a domain: the served names of the `<domain>-actor` and
 * `<domain>-reflection` adapters in the finetune output; none when there is no finetune output or
 * the backend is `none` (the roles' base models, or the simulator, answer). The teacher is never tuned.
 */
export async function resolveRoleModels(store: ArtifactStore, config: R4ecConfig, domain: Domain, finetune: ArtifactRef | undefined): Promise<ResolvedModels> {
  if (!finetune || config.finetune.backend === 'none') return { models: {}, adapterJobKeys: [] };
  const out = new StageOutput(store, finetune.key);
  let raw: unknown;
  if (await store.exists(out.objectKey(ADAPTERS_FILE))) raw = await out.getJson(ADAPTERS_FILE);
  else raw = (await out.manifest()).meta.adapters;
  const parsed = AdapterList.safeParse(raw ?? null);
  if (!parsed.success) {
    throw new RefineDataError(
      `${store.description}/${finetune.key}: expected ${ADAPTERS_FILE} (or the manifest's meta.adapters) listing the adapters ({ adapters: { <job>: { job, servedName, jobKey } } }), found ${raw === undefined ? 'neither' : 'another shape'}`,
    );
  }
  const byJob = new Map(parsed.data.map((a) => [a.job, a]));
  const r: ResolvedModels = { models: {}, adapterJobKeys: [] };
  for (const role of ['actor', 'reflection'] as const) {
    const a = byJob.get(`${domain}-${role}`);
    if (!a) continue;
    r.models[role] = a.servedName;
    if (a.jobKey) r.adapterJobKeys.push(a.jobKey);
  }
  return r;
}

/** Where the run remembers its refine stage: `rerun --failed` needs the key, inputs and config. */
export const StagePointerSchema = z.object({
  runId: z.string(),
  domain: z.enum(['user', 'item']),
  key: z.string(),
  ingest: z.object({ key: z.string(), contentHash: z.string() }),
  finetune: z.object({ key: z.string(), contentHash: z.string() }).nullable(),
  config: z.unknown(),
});
export type StagePointer = Omit<z.infer<typeof StagePointerSchema>, 'config'> & { config: R4ecConfig };

export function stagePointerKey(runId: string, domain: Domain): string {
  return `refine-runs/${runId.replace(/[^A-Za-z0-9._-]/g, '_')}/${domain}.json`;
}

export async function writeStagePointer(store: ArtifactStore, p: StagePointer): Promise<void> {
  await store.put(stagePointerKey(p.runId, p.domain), JSON.stringify(p));
}

export async function readStagePointer(store: ArtifactStore, runId: string, domain: Domain): Promise<StagePointer | undefined> {
  const key = stagePointerKey(runId, domain);
  if (!(await store.exists(key))) return undefined;
  const p = StagePointerSchema.parse(JSON.parse((await store.get(key)).toString('utf8')));
  return { ...p, config: R4ecConfigSchema.parse(p.config) };
}
