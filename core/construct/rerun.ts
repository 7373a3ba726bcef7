// `r4ec rerun --run X --failed` for construct: where the run remembers its construct stage (written
// when it plans), and what a rerun starts from: the committed output's failed inferences and a
// work area rebuilt from that output (the plan again, and one record per inference taken from the
// manifest and the dataset files), so the inference workflows of the failed ones overwrite their
// records and the usual assembly writes the output again under the same key.
import { z } from 'zod';
import { DOMAINS, type Domain } from '../../config/names';
import { ConstructSchema, LlmSchema, QueuesSchema, type R4ecConfig } from '../../config/schema';
import { failedEntitiesQuery, type StageArtifact } from '../rules';
import { StageOutput, type ArtifactStore } from '../store';
import { DATASET_FILES, ManifestLineSchema, MANIFEST_FILE } from './output';
import { DATASET_NAMES, InferenceRecordSchema, type InferenceRecord } from './records';
import { SftRecordSchema, type SftRecord } from '../prompts/sft';
import type { ConstructSummary } from './stage';
import { constructSummaryOf } from './stage';
import { inferenceKey, isFailedConstructOutcome, planPage, PLAN_PAGE, writePlan, type ConstructUnit } from './work';

const PointerSchema = z.object({
  runId: z.string(),
  domain: z.enum(DOMAINS),
  key: z.string(),
  workKey: z.string(),
  ingest: z.object({ key: z.string(), contentHash: z.string() }),
  construct: ConstructSchema,
  llm: LlmSchema,
  queues: QueuesSchema,
  knowledgeCutoff: z.number().gt(0).lt(1).optional(),
});
export type ConstructPointer = z.infer<typeof PointerSchema>;

export function constructPointerKey(runId: string, domain: Domain): string {
  return `construct-runs/${runId.replace(/[^A-Za-z0-9._-]/g, '_')}/${domain}.json`;
}

export async function writeConstructPointer(store: ArtifactStore, p: ConstructPointer): Promise<void> {
  await store.put(constructPointerKey(p.runId, p.domain), JSON.stringify(p));
}

export async function readConstructPointer(store: ArtifactStore, runId: string, domain: Domain): Promise<ConstructPointer | undefined> {
  const key = constructPointerKey(runId, domain);
  if (!(await store.exists(key))) return undefined;
  return PointerSchema.parse(JSON.parse((await store.get(key)).toString('utf8')));
}

export type PreparedConstructRerun =
  | { found: false; query: string }
  | {
      found: true;
      key: string;
      workKey: string;
      ingest: StageArtifact;
      construct: R4ecConfig['construct'];
      llm: R4ecConfig['llm'];
      queues: R4ecConfig['queues'];
      artifact: StageArtifact;
      summary: ConstructSummary;
      /** The failed inferences, each to run as its inference workflow again. */
      failed: ConstructUnit[];
      query: string;
    };

/** Marks records restored from a committed output: a rerun's record of the same inference adds its usage. */
export const FROM_OUTPUT = 'output';

async function jsonl<T>(store: ArtifactStore, key: string, parse: (v: unknown) => T): Promise<T[]> {
  return (await store.get(key))
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => parse(JSON.parse(l)));
}

/**
 * The run's construct output of `domain` and its failed inferences; rebuilds the work area from the
 * output (only when something failed) so the assembly after the rerun finds every record.
 */
export async function prepareConstructRerun(store: ArtifactStore, runId: string, domain: Domain): Promise<PreparedConstructRerun> {
  const query = failedEntitiesQuery(runId, domain, 'construct');
  const p = await readConstructPointer(store, runId, domain);
  if (!p) return { found: false, query };
  const out = new StageOutput(store, p.key);
  // A stage that never finished has no output to repair: run the stage (pipeline) instead.
  if (!(await out.isComplete())) return { found: false, query };
  const summary = constructSummaryOf((await out.manifest()).meta);
  const artifact = { key: p.key, contentHash: await out.contentHash() };
  const manifest = await jsonl(store, out.objectKey(MANIFEST_FILE), (v) => ManifestLineSchema.parse(v));
  const K = p.construct.inferencesPerSample;
  const failedLines = manifest.map((m, i) => ({ m, planIndex: Math.floor(i / K) })).filter(({ m }) => isFailedConstructOutcome(m.outcome));
  const base = { found: true as const, key: p.key, workKey: p.workKey, ingest: p.ingest, construct: p.construct, llm: p.llm, queues: p.queues, artifact, summary, query };
  if (failedLines.length === 0) return { ...base, failed: [] };

  await writePlan(store, p.workKey, { domain, construct: p.construct, ingest: p.ingest, knowledgeCutoff: p.knowledgeCutoff });
  const files = {} as Record<(typeof DATASET_NAMES)[number], SftRecord[]>;
  for (const d of DATASET_NAMES) files[d] = await jsonl(store, out.objectKey(DATASET_FILES[d]), (v) => SftRecordSchema.parse(v));
  for (const [i, m] of manifest.entries()) {
    const rec: InferenceRecord = {
      workflowId: m.workflowId,
      entityId: m.entityId,
      index: m.index,
      k: m.k,
      seed: m.seed,
      outcome: m.outcome,
      reason: m.reason,
      label: m.label,
      usage: m.usage,
      // The answers themselves are not kept in the output; the assembly reads only the records.
      steps: {},
      provenance: m.provenance,
      records: { reason: m.lines.reason.map((l) => files.reason[l - 1]!), reflect: m.lines.reflect.map((l) => files.reflect[l - 1]!), refine: m.lines.refine.map((l) => files.refine[l - 1]!) },
      execution: FROM_OUTPUT,
    };
    await store.put(inferenceKey(p.workKey, Math.floor(i / K), m.k), JSON.stringify(InferenceRecordSchema.parse(rec)));
  }
  const pages = new Map<number, Awaited<ReturnType<typeof planPage>>>();
  const failed: ConstructUnit[] = [];
  for (const { m, planIndex } of failedLines) {
    const page = Math.floor(planIndex / PLAN_PAGE);
    if (!pages.has(page)) pages.set(page, await planPage(store, p.workKey, page));
    const entry = pages.get(page)![planIndex % PLAN_PAGE];
    if (!entry || entry.entityId !== m.entityId) throw new Error(`construct rerun: the plan of ${p.workKey} no longer matches the output ${p.key} at inference ${planIndex}/${m.k}`);
    failed.push({ planIndex, k: m.k, entry });
  }
  return { ...base, failed };
}
