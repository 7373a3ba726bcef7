// The construct stage's keys, its plan in the work area, and a per-process cache of loaded datasets.
import { z } from 'zod';
import type { CONSTRUCT_OUTCOMES, Domain } from '../config/names';
import type { R4ecConfig } from '../config/schema';
import type { LlmUsage } from '../core/rules';
import { itemSampleTarget, PlanEntrySchema, selectEntities, userSamplePos, type PlanEntry } from '../core/construct';
import { loadDataset, type DatasetMeta, type ItemRaterIndex, type Sequences } from '../core/data';
import { stageKey, type ArtifactStore } from '../core/store';

/** Bumped when construction changes what it produces. */
export const CONSTRUCT_CODE_VERSION = 'construct-1';
/** Plan entries per plan page in the work area. */
export const PLAN_PAGE = 1000;

export interface ConstructSummary {
  outcomes: Record<(typeof CONSTRUCT_OUTCOMES)[number], number>;
  llm: LlmUsage;
  records: { reason: number; reflect: number; refine: number };
  sampled: number;
}

interface KeyInput {
  domain: Domain;
  construct: R4ecConfig['construct'];
  llm: R4ecConfig['llm'];
  ingest: { contentHash: string };
}

/** What the output depends on: the sample, the teacher (or the simulator and its faults), the budgets. */
export function constructKeys(input: KeyInput): { key: string; workKey: string } {
  const { sampleFraction, inferencesPerSample, seed } = input.construct;
  const { latencyMs: _l, port: _p, ...simulator } = input.llm.simulator;
  const teacher = input.llm.teacher
    ? { baseUrl: input.llm.teacher.baseUrl, model: input.llm.teacher.model, temperature: input.llm.teacher.temperature, topP: input.llm.teacher.topP, maxTokens: input.llm.teacher.maxTokens }
    : { simulator };
  const key = stageKey({
    stage: 'construct',
    codeVersion: CONSTRUCT_CODE_VERSION,
    config: { domain: input.domain, sampleFraction, inferencesPerSample, seed, teacher, formatRetries: input.llm.formatRetries, transportAttempts: input.llm.transport.maxAttempts },
    inputs: [input.ingest.contentHash],
  });
  return { key, workKey: `construct-work/${key.split('/')[1]}/${input.domain}` };
}

export function inferenceKey(workKey: string, planIndex: number, k: number): string {
  return `${workKey}/inferences/${Math.floor(planIndex / PLAN_PAGE)}/${planIndex}-${k}.json`;
}

const PlanInfoSchema = z.object({ domain: z.enum(['user', 'item']), datasetKey: z.string(), entities: z.number().int(), eligible: z.number().int(), sampled: z.number().int(), pages: z.number().int() }).strict();
export type PlanInfo = z.infer<typeof PlanInfoSchema>;

interface LoadedDataset {
  meta: DatasetMeta;
  seq: Sequences;
  raters: ItemRaterIndex;
}
const datasets = new Map<string, Promise<LoadedDataset>>();

/** A dataset with its sequences and item-rater index, loaded once per worker process. */
export function datasetFor(store: ArtifactStore, key: string): Promise<LoadedDataset> {
  let p = datasets.get(key);
  if (!p) {
    p = (async () => {
      const view = await loadDataset(store, key);
      const [seq, raters] = await Promise.all([view.sequences(), view.itemRaters()]);
      return { meta: view.meta, seq, raters };
    })();
    datasets.set(key, p);
    p.catch(() => datasets.delete(key));
  }
  return p;
}

/** Selects the entities and their samples and writes the plan pages; reuses a plan already written. */
export async function writePlan(store: ArtifactStore, workKey: string, input: KeyInput & { ingest: { key: string } }): Promise<PlanInfo> {
  const infoKey = `${workKey}/plan.json`;
  if (await store.exists(infoKey)) return PlanInfoSchema.parse(JSON.parse((await store.get(infoKey)).toString('utf8')));
  const { meta, seq, raters } = await datasetFor(store, input.ingest.key);
  const { seed, sampleFraction } = input.construct;
  const eligible: PlanEntry[] = [];
  let entities = 0;
  if (input.domain === 'user') {
    meta.users.forEach((entityId, user) => {
      entities++;
      const pos = userSamplePos(seq, user, meta.historyLength, seed, entityId);
      if (pos !== null) eligible.push({ entityId, index: user, user, pos });
    });
  } else {
    meta.items.forEach((it, j) => {
      if (it.trainCount === 0) return;
      entities++;
      const t = itemSampleTarget(seq, raters, j + 1, meta.labelThreshold, meta.historyLength, seed, it.id);
      if (t) eligible.push({ entityId: it.id, index: j + 1, ...t });
    });
  }
  const plan = selectEntities(eligible, sampleFraction, seed, input.domain);
  const pages = Math.ceil(plan.length / PLAN_PAGE);
  for (let p = 0; p < pages; p++) await store.put(`${workKey}/plan/${p}.json`, JSON.stringify(plan.slice(p * PLAN_PAGE, (p + 1) * PLAN_PAGE)));
  const info: PlanInfo = { domain: input.domain, datasetKey: input.ingest.key, entities, eligible: eligible.length, sampled: plan.length, pages };
  // Written last: its presence means the pages are complete.
  await store.put(infoKey, JSON.stringify(info));
  return info;
}

export async function readPlanInfo(store: ArtifactStore, workKey: string): Promise<PlanInfo> {
  return PlanInfoSchema.parse(JSON.parse((await store.get(`${workKey}/plan.json`)).toString('utf8')));
}

export async function planPage(store: ArtifactStore, workKey: string, page: number): Promise<PlanEntry[]> {
  const key = `${workKey}/plan/${page}.json`;
  if (!(await store.exists(key))) return [];
  return z.array(PlanEntrySchema).parse(JSON.parse((await store.get(key)).toString('utf8')));
}
