// One record per refined entity in the store: every iteration (text, judgement, reflection), the
// comparison answers (kar, r2ec) and the final knowledge, with its outcome and token usage. Records
// live beside the stage output (`refine-work/<hash>/e<index>.json`), are rewritten by reruns, and
// are what the output's knowledge files are assembled from.
import { z } from 'zod';
import { DOMAINS, REFINE_OUTCOMES, type Domain, type KnowledgeSet, type RefineOutcome } from '../../config/names';
import { getIfPresent, type ArtifactStore } from '../store';
import { RefineDataError } from './errors';
import { LlmUsageSchema } from '../llm/usage';
import { FAILED_OUTCOMES } from '../rules/refine';
import { addUsage } from '../rules/usage';

export const RECORD_VERSION = 1;


const StepSchema = z.object({
  step: z.enum(['reason', 'refine']),
  seed: z.number().int(),
  model: z.string(),
  text: z.string(),
  judgement: z.object({ reasonable: z.boolean(), reflection: z.string(), model: z.string() }).nullable(),
});

export const EntityRecordSchema = z.object({
  v: z.literal(RECORD_VERSION),
  domain: z.enum(DOMAINS),
  entityId: z.string().min(1),
  index: z.number().int().nonnegative(),
  outcome: z.enum(REFINE_OUTCOMES),
  strategy: z.enum(['iterative', 'filter']),
  /** Actor answers in order: the iterative chain, or the filter's samples. */
  steps: z.array(StepSchema),
  /** kar: the untuned teacher's one answer to the inference prompt. */
  kar: z.string().nullable(),
  /** r2ec: the actor's first answer. */
  r2ec: z.string().nullable(),
  /** r4ec: the final knowledge (filter: every sample with its verdict); null when the chain did not finish. */
  r4ec: z.object({ texts: z.array(z.string()), kept: z.array(z.boolean()).optional() }).nullable(),
  /** Why the outcome is failed_*: which call, and the last error. */
  error: z.object({ outcome: z.enum(['failed_format', 'failed_transport']), call: z.string(), message: z.string() }).nullable(),
  /** Summed over every attempt (reruns add theirs). */
  usage: LlmUsageSchema,
  /** Entity workflow runs that wrote this record (a rerun adds one). */
  attempts: z.number().int().positive(),
  workflowId: z.string(),
  /** The entity workflow's execution id: a retried save of the same execution is recognised by it. */
  workflowRunId: z.string(),
  updatedAt: z.string(),
});
export type EntityRecord = z.infer<typeof EntityRecordSchema>;
/** What the entity workflow hands to saveRefineEntity (the activity adds attempts/updatedAt and merges usage). */
export type EntityResult = Omit<EntityRecord, 'v' | 'attempts' | 'updatedAt'>;

/** Where an output's entity records live; the output key's hash names the folder. */
export function recordPrefix(outputKey: string): string {
  return `refine-work/${outputKey.split('/').join('-')}/`;
}

export function recordKey(outputKey: string, index: number): string {
  return `${recordPrefix(outputKey)}e${index}.json`;
}

export async function readRecord(store: ArtifactStore, outputKey: string, index: number): Promise<EntityRecord | undefined> {
  const key = recordKey(outputKey, index);
  const bytes = await getIfPresent(store, key);
  if (!bytes) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new RefineDataError(`${store.description}/${key}: not JSON (${(e as Error).message})`);
  }
  const r = EntityRecordSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new RefineDataError(`${store.description}/${key}: field "${i.path.join('.')}": ${i.message}`);
  }
  return r.data;
}

/**
 * Writes the record of one entity workflow run. A rerun's record replaces the earlier one but keeps
 * its usage, so the stage summary counts every call that was ever made for the entity.
 */
export async function writeRecord(store: ArtifactStore, outputKey: string, result: EntityResult, now: Date = new Date(), opts: { previous?: null } = {}): Promise<EntityRecord> {
  // `previous: null`: the caller listed the entity moments ago and it had no record (one GET less).
  const previous = opts.previous === null ? undefined : await readRecord(store, outputKey, result.index).catch(() => undefined);
  const sameRun = previous?.workflowRunId === result.workflowRunId;
  const record: EntityRecord = {
    v: RECORD_VERSION,
    ...result,
    // A retried save of the same run must not count its usage twice.
    usage: previous && !sameRun ? addUsage(previous.usage, result.usage) : result.usage,
    attempts: previous ? (sameRun ? previous.attempts : previous.attempts + 1) : 1,
    updatedAt: now.toISOString(),
  };
  await store.put(recordKey(outputKey, result.index), JSON.stringify(record));
  return record;
}

/** Outcomes whose entity is done for good; skipped_call_cap is redone once the cap allows. */
export function isSettled(outcome: RefineOutcome): boolean {
  return outcome !== 'skipped_call_cap';
}

export function isFailed(outcome: RefineOutcome): boolean {
  return FAILED_OUTCOMES.includes(outcome);
}

/** The texts (and filter verdicts) a record contributes to one knowledge set. */
export function setTexts(record: EntityRecord, set: KnowledgeSet): { texts: string[]; kept?: boolean[] } {
  if (set === 'kar') return { texts: record.kar === null ? [] : [record.kar] };
  if (set === 'r2ec') return { texts: record.r2ec === null ? [] : [record.r2ec] };
  if (!record.r4ec) return { texts: [] };
  return record.r4ec.kept ? { texts: record.r4ec.texts, kept: record.r4ec.kept } : { texts: record.r4ec.texts };
}

export type { Domain };
