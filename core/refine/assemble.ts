// From entity records to refine(domain)'s output (docs/ARCHITECTURE.md, "Knowledge sets (refine →
// encode)"): `<set>/<domain>.jsonl` for kar, r2ec and r4ec, one line per entity of the entity set,
// plus `entities.jsonl` (every record: iterations, judgements, reflections, errors) for the report
// and for debugging. Committing again after a rerun gives a new content hash, so every downstream
// stage key changes.
import { z } from 'zod';
import { DOMAINS, KNOWLEDGE_SETS, REFINE_OUTCOMES, type Domain, type RefineOutcome } from '../../config/names';
import type { KnowledgeRecord } from '../encode/knowledge';
import { knowledgeFileName } from '../encode/stage';
import { StageOutput, stageKey, type ArtifactStore } from '../store';
import type { RefineEntities } from './entities';
import { RefineDataError } from './errors';
import { REFINE_CODE_VERSION } from './plan';
import { LlmUsageSchema } from '../llm/usage';
import { addUsage, zeroUsage, type LlmUsage } from '../rules/usage';
import { readRecord, recordPrefix, setTexts, type EntityRecord } from './record';
import { faultPoint } from '../fault';
import { overFailureLimit, StageFailureLimit, tallyFailures, writeRefusal, type UnitFailure } from '../stage/failure-limit';

export const ENTITIES_FILE = 'entities.jsonl';

export interface RefineSummary {
  domain: Domain;
  strategy: 'iterative' | 'filter';
  entities: number;
  outcomes: Record<RefineOutcome, number>;
  /** Summed over every entity record (reruns included). */
  llm: LlmUsage;
  /** Up to 50 failed entities, for the run summary; the full list is in entities.jsonl. */
  failedSample: Array<{ entityId: string; outcome: RefineOutcome }>;
}

const RefineSummarySchema = z.object({
  domain: z.enum(DOMAINS),
  strategy: z.enum(['iterative', 'filter']),
  entities: z.number().int(),
  outcomes: z.record(z.enum(REFINE_OUTCOMES), z.number()),
  llm: LlmUsageSchema,
  failedSample: z.array(z.object({ entityId: z.string(), outcome: z.enum(REFINE_OUTCOMES) })),
}) satisfies z.ZodType<RefineSummary>;

/** The summary a committed output keeps in its manifest's meta. */
export function refineSummaryOf(meta: Record<string, unknown>): RefineSummary {
  const { domain, strategy, entities, outcomes, llm, failedSample } = RefineSummarySchema.parse(meta);
  return { domain, strategy, entities, outcomes, llm, failedSample };
}

export function emptyOutcomes(): Record<RefineOutcome, number> {
  return Object.fromEntries(REFINE_OUTCOMES.map((o) => [o, 0])) as Record<RefineOutcome, number>;
}

/** Reads `count` records starting at `from`, a few at a time (the local store is file-per-record). */
async function readRange(store: ArtifactStore, key: string, entities: RefineEntities, from: number, count: number): Promise<Array<EntityRecord | undefined>> {
  return Promise.all(
    Array.from({ length: count }, (_, j) => {
      const ref = entities.at(from + j);
      return entities.isActive(ref.index) ? readRecord(store, key, ref.index) : Promise.resolve(undefined);
    }),
  );
}

/** Which entities failed when the stage last refused to commit (over refine.failureLimit). */
export function refusalKey(outputKey: string): string {
  return `${recordPrefix(outputKey)}refused.json`;
}

/**
 * Writes and commits the output from the entity records. Retried after the commit it writes the same
 * files again (the records are kept: `rerun --failed` rewrites the output from them), so the content
 * hash is the one the first attempt committed.
 */
export async function assembleRefineOutput(a: {
  store: ArtifactStore;
  key: string;
  entities: RefineEntities;
  strategy: 'iterative' | 'filter';
  meta?: Record<string, unknown>;
  /** Share of the entities that ran which may fail (failed_format, failed_transport) for the output to be committed; absent: any. */
  failureLimit?: number | undefined;
}): Promise<{ contentHash: string; summary: RefineSummary }> {
  const { store, key, entities } = a;
  const domain = entities.domain;
  const lines: Record<string, string[]> = Object.fromEntries(KNOWLEDGE_SETS.map((s) => [s, []]));
  const records: string[] = [];
  const summary: RefineSummary = { domain, strategy: a.strategy, entities: entities.total, outcomes: emptyOutcomes(), llm: zeroUsage(), failedSample: [] };
  const batch = 64;
  const failures: Array<UnitFailure & { index: number }> = [];
  let ran = 0;
  for (let from = 0; from < entities.total; from += batch) {
    const count = Math.min(batch, entities.total - from);
    const got = await readRange(store, key, entities, from, count);
    for (let j = 0; j < count; j++) {
      const ref = entities.at(from + j);
      const rec = got[j];
      let outcome: RefineOutcome;
      if (!entities.isActive(ref.index)) {
        outcome = 'approximated';
        for (const set of KNOWLEDGE_SETS) lines[set]!.push(JSON.stringify({ entityId: ref.entityId, index: ref.index, texts: [], approximated: true } satisfies KnowledgeRecord));
      } else {
        // No record: the entity was never started because the run-level cap was reached.
        outcome = rec?.outcome ?? 'skipped_call_cap';
        for (const set of KNOWLEDGE_SETS) {
          const t = rec ? setTexts(rec, set) : { texts: [] };
          lines[set]!.push(JSON.stringify({ entityId: ref.entityId, index: ref.index, ...t } satisfies KnowledgeRecord));
        }
        if (rec) {
          if (rec.outcome !== 'skipped_call_cap') ran++;
          if (rec.outcome === 'failed_format' || rec.outcome === 'failed_transport') {
            failures.push({ index: ref.index, outcome: rec.outcome, message: rec.error ? `${rec.error.call}: ${rec.error.message}` : rec.outcome });
          }
          if (rec.entityId !== ref.entityId) throw new RefineDataError(`${store.description}: record of ${domain} ${ref.index} names entity ${rec.entityId}, the dataset ${ref.entityId}`);
          records.push(JSON.stringify(rec));
          summary.llm = addUsage(summary.llm, rec.usage);
        }
      }
      summary.outcomes[outcome]++;
      if ((outcome === 'failed_format' || outcome === 'failed_transport') && summary.failedSample.length < 50) summary.failedSample.push({ entityId: ref.entityId, outcome });
    }
  }
  if (a.failureLimit !== undefined) {
    const tally = tallyFailures(ran, failures);
    if (overFailureLimit(tally, a.failureLimit)) {
      await writeRefusal(store, refusalKey(key), { units: ran, failed: failures.map((f) => String(f.index)) });
      throw new StageFailureLimit(`refine(${domain})`, tally, a.failureLimit, 'refine.failureLimit', 'entities');
    }
  }
  const out = new StageOutput(store, key);
  for (const set of KNOWLEDGE_SETS) await out.put(knowledgeFileName(set, domain), lines[set]!.join('\n') + (lines[set]!.length ? '\n' : ''));
  await out.put(ENTITIES_FILE, records.join('\n') + (records.length ? '\n' : ''));
  const contentHash = await out.commit('refine', { ...a.meta, ...summary });
  faultPoint('refine.assemble.after-commit');
  return { contentHash, summary };
}

/** The summary a committed output carries (its manifest's meta), with when it was committed. */
export async function committedSummary(store: ArtifactStore, key: string): Promise<{ contentHash: string; summary: RefineSummary; createdAt: string } | undefined> {
  const out = new StageOutput(store, key);
  if (!(await out.isComplete())) return undefined;
  const m = await out.manifest();
  return { contentHash: await out.contentHash(), summary: refineSummaryOf(m.meta), createdAt: m.createdAt };
}

/**
 * encode reads one `refine` artifact holding both domains' files; refine runs per domain. This joins
 * refine:user and refine:item into `refine/<hash of both content hashes>` (reused when it exists).
 */
export async function combineRefineOutputs(store: ArtifactStore, parts: Record<Domain, { key: string; contentHash: string }>): Promise<{ key: string; contentHash: string; reused: boolean }> {
  const key = stageKey({ stage: 'refine', codeVersion: REFINE_CODE_VERSION, config: { combined: ['user', 'item'] }, inputs: [parts.user.contentHash, parts.item.contentHash] });
  const out = new StageOutput(store, key);
  if (await out.isComplete()) return { key, contentHash: await out.contentHash(), reused: true };
  const meta: Record<string, unknown> = { parts };
  for (const domain of ['user', 'item'] as const) {
    const part = new StageOutput(store, parts[domain].key);
    if (!(await part.isComplete())) throw new RefineDataError(`${store.description}/${parts[domain].key}: refine(${domain}) output is not complete`);
    if ((await part.contentHash()) !== parts[domain].contentHash) {
      throw new RefineDataError(`${store.description}/${parts[domain].key}: refine(${domain}) output changed since it was handed over (a rerun rewrote it): use its new content hash`);
    }
    for (const set of KNOWLEDGE_SETS) await out.put(knowledgeFileName(set, domain), await store.get(part.objectKey(knowledgeFileName(set, domain))));
    meta[domain] = (await part.manifest()).meta;
  }
  const contentHash = await out.commit('refine', meta);
  faultPoint('refine.combine.after-commit');
  return { key, contentHash, reused: false };
}
