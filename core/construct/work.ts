// The construct stage's work area `construct-work/<hash>/<domain>/`: the plan (sampled entities and
// their target interaction, in pages) and one record per finished inference, so a crashed or re-run
// stage loses nothing. Also the per-process cache of loaded datasets the inferences read.
import { z } from 'zod';
import type { ConstructOutcome, Domain } from '../../config/names';
import type { R4ecConfig } from '../../config/schema';
import { buildItemRaterIndex, knowledgePrefix, loadDataset, type DatasetMeta, type ItemRaterIndex, type Sequences } from '../data';
import { PromptSpecError, type PromptSpec } from '../prompts/builders';
import { addUsage, isBatchExecution, type LlmUsage } from '../rules';
import { getIfPresent, type ArtifactStore } from '../store';
import { itemSampleTarget, PlanEntrySchema, selectEntities, userSamplePos, type PlanEntry } from './plan';
import { ConstructRecordError, InferenceRecordSchema, sftRecordsFor, type InferenceRecord, type InferenceSteps } from './records';
import { buildSample, promptSpec, type ConstructSample } from './sample';

/** Plan entries per plan page in the work area. */
export const PLAN_PAGE = 1000;

export function inferenceKey(workKey: string, planIndex: number, k: number): string {
  return `${workKey}/inferences/${Math.floor(planIndex / PLAN_PAGE)}/${planIndex}-${k}.json`;
}

/** Which inferences failed when the stage last refused to commit (over construct.failureLimit). */
export function refusalKey(workKey: string): string {
  return `${workKey}/refused.json`;
}

const PlanInfoSchema = z.object({ domain: z.enum(['user', 'item']), datasetKey: z.string(), entities: z.number().int(), eligible: z.number().int(), sampled: z.number().int(), pages: z.number().int() }).strict();
export type PlanInfo = z.infer<typeof PlanInfoSchema>;

export interface LoadedDataset {
  meta: DatasetMeta;
  seq: Sequences;
  raters: ItemRaterIndex;
}
const datasets = new Map<string, Promise<LoadedDataset>>();

const prefixes = new WeakMap<LoadedDataset, Map<number, LoadedDataset>>();

/**
 * The dataset as construct sees it under knowledge cutoff f: every user's training part ends at
 * floor(f · train_end), and the rater index covers only those prefixes, so the plan's targets and
 * every history a prompt shows lie inside them. f = 0: the dataset itself.
 */
export function knowledgeDataset(ds: LoadedDataset, fraction: number): LoadedDataset {
  if (fraction === 0) return ds;
  let byF = prefixes.get(ds);
  if (!byF) prefixes.set(ds, (byF = new Map()));
  let cut = byF.get(fraction);
  if (!cut) {
    const seq = knowledgePrefix(ds.seq, fraction);
    cut = { meta: ds.meta, seq, raters: buildItemRaterIndex(seq, ds.meta.counts.allItems) };
    byF.set(fraction, cut);
  }
  return cut;
}

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
export async function writePlan(
  store: ArtifactStore,
  workKey: string,
  input: { domain: Domain; construct: R4ecConfig['construct']; ingest: { key: string }; knowledgeCutoff?: number | undefined },
): Promise<PlanInfo> {
  const infoKey = `${workKey}/plan.json`;
  if (await store.exists(infoKey)) return PlanInfoSchema.parse(JSON.parse((await store.get(infoKey)).toString('utf8')));
  const f = input.knowledgeCutoff ?? 0;
  const { meta, seq, raters } = knowledgeDataset(await datasetFor(store, input.ingest.key), f);
  const cut = f > 0 ? { knowledgeCutoff: f } : {};
  const { seed, sampleFraction } = input.construct;
  const eligible: PlanEntry[] = [];
  let entities = 0;
  if (input.domain === 'user') {
    meta.users.forEach((entityId, user) => {
      entities++;
      const pos = userSamplePos(seq, user, meta.historyLength, seed, entityId);
      if (pos !== null) eligible.push({ entityId, index: user, user, pos, ...cut });
    });
  } else {
    meta.items.forEach((it, j) => {
      if (it.trainCount === 0) return;
      entities++;
      const t = itemSampleTarget(seq, raters, j + 1, meta.labelThreshold, meta.historyLength, seed, it.id);
      if (t) eligible.push({ entityId: it.id, index: j + 1, ...t, ...cut });
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

const FAILED: readonly ConstructOutcome[] = ['failed_format', 'failed_transport'];

export function isFailedConstructOutcome(outcome: ConstructOutcome): boolean {
  return FAILED.includes(outcome);
}

/** One unit of the fan-out: the k-th inference of a plan entry, with its outcome when already recorded. */
export interface ConstructUnit {
  planIndex: number;
  k: number;
  entry: PlanEntry;
  doneOutcome?: string;
  /** A batch recorded it as failed: it still needs its own inference workflow (not redone in a batch). */
  failedInBatch?: ConstructOutcome;
}

/**
 * Units [offset, offset+limit) in plan order; a unit whose record exists is marked done, except a
 * failure a batch recorded, which is marked `failedInBatch` (its inference workflow is still due).
 */
export async function loadUnits(store: ArtifactStore, workKey: string, offset: number, limit: number, inferencesPerSample: number): Promise<ConstructUnit[]> {
  const K = inferencesPerSample;
  const units: ConstructUnit[] = [];
  const pages = new Map<number, PlanEntry[]>();
  for (let u = offset; u < offset + limit; u++) {
    const planIndex = Math.floor(u / K);
    const p = Math.floor(planIndex / PLAN_PAGE);
    if (!pages.has(p)) pages.set(p, await planPage(store, workKey, p));
    const entry = pages.get(p)![planIndex % PLAN_PAGE];
    if (!entry) break;
    const unit: ConstructUnit = { planIndex, k: u % K, entry };
    const recKey = inferenceKey(workKey, planIndex, unit.k);
    if (await store.exists(recKey)) {
      // An unreadable record (older code, a torn copy after a crash) is redone, not trusted.
      let raw: unknown;
      try {
        raw = JSON.parse((await store.get(recKey)).toString('utf8'));
      } catch {
        raw = undefined;
      }
      const rec = InferenceRecordSchema.safeParse(raw);
      if (rec.success && isFailedConstructOutcome(rec.data.outcome) && isBatchExecution(rec.data.execution)) unit.failedInBatch = rec.data.outcome;
      // Skipped at the call cap: still to do (the cap may have room now).
      else if (rec.success && rec.data.outcome !== 'skipped_call_cap') unit.doneOutcome = rec.data.outcome;
    }
    units.push(unit);
  }
  return units;
}

/** An inference's sample and its first prompt (user: the user; item: the item with its target user). */
export function sampleOf(ds: LoadedDataset, domain: Domain, entry: PlanEntry): { sample: ConstructSample; reasonSpec: PromptSpec } {
  const d = knowledgeDataset(ds, entry.knowledgeCutoff ?? 0);
  const sample = buildSample(d.meta, d.seq, domain === 'item' ? d.raters : undefined, domain, entry);
  return { sample, reasonSpec: promptSpec(sample, 'reason', 'construct') };
}

export interface RecordInferenceInput {
  workKey: string;
  workflowId: string;
  planIndex: number;
  k: number;
  seed: number;
  sample: ConstructSample;
  outcome: InferenceRecord['outcome'];
  reason: string;
  steps: InferenceSteps;
  usage: LlmUsage;
  /** Who runs it: the inference workflow's execution id or a batch's (`batch/…`). */
  execution?: string | undefined;
}

async function readInferenceRecord(store: ArtifactStore, key: string): Promise<InferenceRecord | undefined> {
  const bytes = await getIfPresent(store, key);
  if (!bytes) return undefined;
  try {
    const r = InferenceRecordSchema.safeParse(JSON.parse(bytes.toString('utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Writes the inference's record with its fine-tuning records. A kept answer that cannot form a valid
 * fine-tuning record is recorded as a format failure, not a crash: the returned outcome says which.
 */
export async function recordInference(store: ArtifactStore, input: RecordInferenceInput): Promise<{ outcome: InferenceRecord['outcome']; reason: string }> {
  let { outcome, reason } = input;
  let records: InferenceRecord['records'];
  try {
    records = sftRecordsFor(input.sample, outcome, input.steps);
  } catch (e) {
    if (!(e instanceof ConstructRecordError) && !(e instanceof PromptSpecError)) throw e;
    outcome = 'failed_format';
    reason = `record: ${e.message}`;
    records = { reason: [], reflect: [], refine: [] };
  }
  const key = inferenceKey(input.workKey, input.planIndex, input.k);
  // Another execution's record of this inference (a batch that failed it, a rerun) keeps its usage:
  // the stage summary counts every call that was made. A retried write of the same execution does not.
  const previous = input.execution !== undefined ? await readInferenceRecord(store, key) : undefined;
  const usage = previous?.execution !== undefined && previous.execution !== input.execution ? addUsage(previous.usage, input.usage) : input.usage;
  const rec: InferenceRecord = {
    workflowId: input.workflowId,
    entityId: input.sample.entityId,
    index: input.sample.index,
    k: input.k,
    seed: input.seed,
    outcome,
    reason,
    label: input.sample.label,
    usage,
    steps: input.steps,
    provenance: input.sample.provenance,
    records,
    ...(input.execution !== undefined ? { execution: input.execution } : {}),
  };
  await store.put(key, JSON.stringify(InferenceRecordSchema.parse(rec)));
  return { outcome, reason };
}
