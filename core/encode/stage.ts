// The encode stage's steps over the store, free of Temporal: plan (validate every knowledge file),
// encode one (set, domain) in resumable shards, assemble and commit the vectors. Activities call
// these and add heartbeats, logging and error mapping.
import { z } from 'zod';
import type { Domain, KnowledgeSet } from '../../config/names';
import { DOMAINS, KNOWLEDGE_SETS } from '../../config/names';
import { DataError } from '../data/errors';
import { faultPoint } from '../fault';
import { encodeNpy } from '../data/npy';
import { StageOutput, stageKey, type ArtifactStore } from '../store';
import { assembleRows, fillApproximated, type DomainCounts } from './assemble';
import { loadEncodeDataset, type EncodeDataset } from './dataset';
import { parseKnowledgeFile, planEncoding, type EncodingPlan } from './knowledge';
import { readShardVectors, shardCount } from './shards';

/** Bump when the encode stage's output for the same inputs changes. */
export const ENCODE_CODE_VERSION = '1';

/** Where refine's output keeps a knowledge set (docs/ARCHITECTURE.md, "Knowledge sets (refine → encode)"). */
export function knowledgeFileName(set: KnowledgeSet, domain: Domain): string {
  return `${set}/${domain}.jsonl`;
}

export function knowledgeFileKey(refineKey: string, set: KnowledgeSet, domain: Domain): string {
  return `${refineKey}/${knowledgeFileName(set, domain)}`;
}

/** Scratch shards of one output; shard size is part of it because it decides the cut. */
export function workPrefix(key: string, shardSize: number, set?: KnowledgeSet, domain?: Domain): string {
  const base = `encode-work/${key.split('/').join('-')}/s${shardSize}`;
  return set && domain ? `${base}/${set}/${domain}` : base;
}

export function encodeStageKey(a: { sets: readonly KnowledgeSet[]; encoder: unknown; refineHash: string; ingestHash: string; knowledgeCutoff?: number | undefined }): string {
  // The cutoff decides approximated users' vectors; absent when off, so keys without it stay as they were.
  const cutoff = a.knowledgeCutoff ? { knowledgeCutoff: a.knowledgeCutoff } : {};
  return stageKey({ stage: 'encode', codeVersion: ENCODE_CODE_VERSION, config: { sets: [...a.sets].sort(), encoder: a.encoder, ...cutoff }, inputs: [a.refineHash, a.ingestHash] });
}

export async function loadPlan(store: ArtifactStore, refineKey: string, set: KnowledgeSet, domain: Domain, dataset: EncodeDataset): Promise<EncodingPlan> {
  const key = knowledgeFileKey(refineKey, set, domain);
  if (!(await store.exists(key))) {
    throw new DataError(key, 0, '(file)', `the ${set} knowledge set for ${domain}s from refine (JSONL, one entity per line)`);
  }
  const ids = domain === 'user' ? dataset.userIds : dataset.itemIds;
  return planEncoding(parseKnowledgeFile((await store.get(key)).toString('utf8'), key, { domain, ids }));
}

export interface EncodeJob {
  set: KnowledgeSet;
  domain: Domain;
  texts: number;
  shards: number;
}

/** Validates every knowledge file up front (a bad line fails the stage before any encoding). */
export async function planJobs(store: ArtifactStore, refineKey: string, ingestKey: string, sets: readonly KnowledgeSet[], shardSize: number): Promise<EncodeJob[]> {
  const dataset = await loadEncodeDataset(store, ingestKey, { sequences: false });
  const jobs: EncodeJob[] = [];
  for (const set of sets) {
    for (const domain of DOMAINS) {
      const plan = await loadPlan(store, refineKey, set, domain, dataset);
      jobs.push({ set, domain, texts: plan.texts.length, shards: shardCount(plan.texts.length, shardSize) });
    }
  }
  return jobs;
}

export interface EncodeSummary {
  model: string;
  dim: number;
  sets: Partial<Record<KnowledgeSet, Record<Domain, DomainCounts>>>;
}

const Count = z.number().int().nonnegative();
const DomainCountsSchema = z.object({
  rows: Count,
  entities: Count,
  withKnowledge: Count,
  withoutKnowledge: Count,
  missing: Count,
  approximated: Count,
  approximatedEmpty: Count,
  texts: Count,
  emptyTexts: Count,
  filtered: Count,
  keptNone: Count,
}) satisfies z.ZodType<DomainCounts>;
const EncodeSummarySchema = z.object({
  model: z.string(),
  dim: z.number().int().positive(),
  sets: z.partialRecord(z.enum(KNOWLEDGE_SETS), z.object({ user: DomainCountsSchema, item: DomainCountsSchema })),
}) satisfies z.ZodType<EncodeSummary>;

/** The stage summary a committed output keeps in its manifest's meta. */
export function encodeSummaryOf(meta: Record<string, unknown>): EncodeSummary {
  return EncodeSummarySchema.parse(meta);
}

/**
 * Builds `<set>/<domain>.npy` + `<set>/<domain>.ids.json` from the shards and commits the output.
 * Returns the content hash; the summary goes into the manifest's meta.
 */
export async function assembleAndCommit(a: {
  store: ArtifactStore;
  key: string;
  refineKey: string;
  ingestKey: string;
  sets: readonly KnowledgeSet[];
  shardSize: number;
  dim: number;
  model: string;
  knowledgeCutoff?: number | undefined;
}): Promise<{ contentHash: string; summary: EncodeSummary }> {
  const base = await loadEncodeDataset(a.store, a.ingestKey, { sequences: false });
  const plans = new Map<string, EncodingPlan>();
  for (const set of a.sets) for (const d of DOMAINS) plans.set(`${set}/${d}`, await loadPlan(a.store, a.refineKey, set, d, base));
  const anyApproximated = [...plans.values()].some((p) => p.entities.some((e) => e.approximated));
  const dataset = anyApproximated ? await loadEncodeDataset(a.store, a.ingestKey, { sequences: true, knowledgeCutoff: a.knowledgeCutoff }) : base;

  const out = new StageOutput(a.store, a.key);
  const summary: EncodeSummary = { model: a.model, dim: a.dim, sets: {} };
  for (const set of a.sets) {
    const rowsOf = (d: Domain): number => (d === 'user' ? dataset.userIds.length : dataset.itemIds.length);
    const entitySet = (d: Domain): Uint8Array => (d === 'user' ? dataset.userEntities : dataset.itemEntities);
    const built = {} as Record<Domain, ReturnType<typeof assembleRows>>;
    for (const d of DOMAINS) {
      const plan = plans.get(`${set}/${d}`)!;
      const vectors = await readShardVectors(a.store, workPrefix(a.key, a.shardSize, set, d), plan.texts.length, a.shardSize, a.dim);
      built[d] = assembleRows(plan, vectors, a.dim, entitySet(d));
    }
    fillApproximated(built.user, plans.get(`${set}/user`)!, built.item, a.dim, (u) => dataset.trainingItems(u));
    for (const d of DOMAINS) {
      await out.put(`${set}/${d}.npy`, encodeNpy(built[d].matrix, [rowsOf(d), a.dim]));
      await out.putJson(`${set}/${d}.ids.json`, d === 'user' ? dataset.userIds : dataset.itemIds);
    }
    summary.sets[set] = { user: built.user.counts, item: built.item.counts };
  }
  const contentHash = await out.commit('encode', { ...summary });
  faultPoint('encode.assemble.after-commit');
  return { contentHash, summary };
}

/** The committed output and its summary, or undefined: what a retry after the commit returns. */
export async function committedEncoding(store: ArtifactStore, key: string): Promise<{ contentHash: string; summary: EncodeSummary } | undefined> {
  const out = new StageOutput(store, key);
  if (!(await out.isComplete())) return undefined;
  return { contentHash: await out.contentHash(), summary: encodeSummaryOf((await out.manifest()).meta) };
}

/**
 * Removes the scratch shards once the output is committed (they are not needed to read it). A retry
 * finishes what a killed attempt started: shards already gone are simply not listed.
 */
export async function removeWork(store: ArtifactStore, key: string, shardSize: number): Promise<void> {
  let removed = 0;
  for (const k of await store.list(`${workPrefix(key, shardSize)}/`)) {
    await store.delete(k);
    if (++removed === 1) faultPoint('encode.assemble.cleanup');
  }
}
