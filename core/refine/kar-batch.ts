// refine's kar comparison set on the teacher's Batch API (`llm.teacher.batch.enabled`): kar asks the
// teacher the actor's first question once per entity, a request that depends on the entity's
// sample alone, so the stage sends all of them in batches before its fan-out, in rounds the stage
// workflow drives with durable timers between polls:
//
//   prepare(round) → submit(round) → poll … poll → collect(round) → prepare(round + 1) → …
//
// `prepare` builds each entity's kar request (the exact request the synchronous path sends, same
// cache key) for every entity without a settled record whose answer the cache lacks, or takes the
// re-ask / resubmission the last round handed back; `collect` reads the finished batches into the
// same cache with the same parser. The fan-out that follows asks kar as always and finds the answer
// in the cache; an entity whose kar request failed in the batches (or was not asked at the call
// cap) finds that failure in the store (`karBatchFailure`) instead of asking synchronously.
//
// Everything a round needs is in the store under the session (the stage workflow's first run):
// `refine-kar-batch/<output>/<session>/round-<n>.json`, `collected-<n>.json` and `failed/e<index>.json`,
// each written once, so a retried or re-executed activity reads what its first attempt decided and
// the files, and so the batches found by their content hash, never change.
import { z } from 'zod';
import type { Domain, LlmRole } from '../../config/names';
import type { R4ecConfig } from '../../config/schema';
import type { BatchClient, BatchHandling, BatchInfo, BatchItemResult } from '../llm/batch';
import { BatchItemSchema, type BatchItem } from '../llm/batch-files';
import type { LlmCache } from '../llm/cache';
import { FormatError, correctionTurn, parseAnswer, type ParsedAnswer } from '../llm/parse';
import { costUsd, priceFor, priceTable } from '../llm/prices';
import { buildPrompt, promptKindOf } from '../prompts/builders';
import type { PromptKind } from '../prompts/tags';
import { addUsage, inferenceSpec, zeroUsage, type LlmUsage, type StepFailure } from '../rules';
import type { ArtifactStore } from '../store';
import { capReached, hasCap, LlmBudget, type LlmCap } from './budget';
import type { EntityListOptions } from './entities';
import type { RefineStage } from './stage';

export interface KarRoundScope {
  runId: string;
  /** The refine output key (its entity records and this session's rounds). */
  key: string;
  ingestKey: string;
  domain: Domain;
  entities: EntityListOptions;
  /** Entities of the domain (the stage's work list). */
  total: number;
  /** The teacher's model when it is not the endpoint's (never an adapter: the teacher is not tuned). */
  model?: string | undefined;
  /** The stage workflow's first run id: the rounds of one execution of the stage. */
  session: string;
  round: number;
}

export interface PreparedKarRound {
  /** Requests this round sends (0: every kar answer is in the cache, failed, or left at the cap). */
  requests: number;
  /** Entities not asked because the call cap is reached. */
  skipped: number;
}

export interface CollectedKarRound {
  ok: number;
  retry: number;
  failed: number;
  usage: LlmUsage;
}

const PromptKindSchema = z.object({ domain: z.enum(['user', 'item']), step: z.enum(['reason', 'reflect', 'refine']), variant: z.enum(['construct', 'inference']), medium: z.enum(['movie', 'book']) });
// Every kar prompt of a domain is of one kind (the inference reason prompt): the round keeps it once.
const RoundSchema = z.object({ round: z.number().int().positive(), kind: PromptKindSchema.optional(), items: z.array(BatchItemSchema), skipped: z.number().int().min(0).default(0) });
const UsageSchema = z.object({ calls: z.number(), cacheHits: z.number(), promptTokens: z.number(), completionTokens: z.number() });
const CollectedSchema = z.object({
  round: z.number().int().positive(),
  results: z.array(z.object({ id: z.string(), status: z.enum(['ok', 'retry', 'failed_format', 'failed_transport']), usage: UsageSchema, model: z.string().optional(), next: BatchItemSchema.optional(), reason: z.string().optional() })),
});
type Collected = z.infer<typeof CollectedSchema>;
const FailureSchema = z.object({ outcome: z.enum(['failed_format', 'failed_transport']), message: z.string() });

const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');
const dir = (s: Pick<KarRoundScope, 'key' | 'session'>) => `refine-kar-batch/${s.key.split('/').join('-')}/${safe(s.session)}`;
const roundKey = (s: KarRoundScope, round = s.round) => `${dir(s)}/round-${round}.json`;
const collectedKey = (s: KarRoundScope, round = s.round) => `${dir(s)}/collected-${round}.json`;
const failureKey = (s: Pick<KarRoundScope, 'key' | 'session'>, index: number) => `${dir(s)}/failed/e${index}.json`;
const itemId = (index: number) => `e${index}`;
const indexOf = (id: string) => Number(id.slice(1));

async function readJson<T>(store: ArtifactStore, key: string, schema: z.ZodType<T>): Promise<T | undefined> {
  if (!(await store.exists(key))) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse((await store.get(key)).toString('utf8'));
  } catch {
    throw new Error(`${store.description}/${key}: not JSON (a kar batch round file)`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new Error(`${store.description}/${key}: field "${i.path.join('.')}": ${i.message}`);
  }
  return r.data;
}

/** The parser and correction turn of the synchronous path: kar's prompt is an inference reason prompt. */
function karHandling(llm: Pick<R4ecConfig['llm'], 'formatRetries' | 'transport'>, kind: PromptKind): BatchHandling<ParsedAnswer> {
  return {
    parse: (_item, text) => parseAnswer(kind, text),
    correction: (_item, err) => correctionTurn(kind, err),
    formatRetries: llm.formatRetries,
    transportAttempts: llm.transport.maxAttempts,
  };
}

/** Why an entity's kar has no answer after the rounds (the fan-out takes it instead of asking), if it has none. */
export async function karBatchFailure(store: ArtifactStore, scope: Pick<KarRoundScope, 'key' | 'session'>, index: number): Promise<StepFailure | undefined> {
  const f = await readJson(store, failureKey(scope, index), FailureSchema);
  return f ? { outcome: f.outcome, call: 'kar', message: f.message } : undefined;
}

/**
 * Writes this round's kar requests: one per entity still waiting on the teacher. With a call cap,
 * entities beyond the room left are not asked (their kar fails with the cap named; the fan-out's
 * own booking stops most of them first).
 */
export async function prepareKarRound(store: ArtifactStore, stage: RefineStage, cache: LlmCache, bc: BatchClient, input: KarRoundScope & { cap: LlmCap }): Promise<PreparedKarRound> {
  const existing = await readJson(store, roundKey(input), RoundSchema);
  if (existing) return { requests: existing.items.length, skipped: existing.skipped };
  // What the earlier rounds settled: failures (final) and the last round's hand-backs.
  const failed = new Set<string>();
  let handBacks = new Map<string, BatchItem>();
  for (let r = 1; r < input.round; r++) {
    const c = await readJson(store, collectedKey(input, r), CollectedSchema);
    if (!c) throw new Error(`kar batch: round ${r} of ${dir(input)} was never collected (round ${input.round} cannot be prepared)`);
    const backs = new Map<string, BatchItem>();
    for (const res of c.results) {
      if (res.status === 'failed_format' || res.status === 'failed_transport') failed.add(res.id);
      if (res.status === 'retry' && res.next) backs.set(res.id, res.next);
    }
    handBacks = backs;
  }
  const units = await stage.listUnits({ runId: input.runId, key: input.key, ingestKey: input.ingestKey, domain: input.domain, entities: input.entities, cap: {}, offset: 0, limit: input.total });
  const items: BatchItem[] = [];
  let kind: PromptKind | undefined;
  for (const u of units) {
    if (u.doneOutcome !== undefined || !u.sample) continue;
    const id = itemId(u.index);
    if (failed.has(id)) continue;
    const back = handBacks.get(id);
    if (back) {
      kind ??= promptKindOf(inferenceSpec(u.sample, 'reason'));
      items.push(back);
      continue;
    }
    const prompt = inferenceSpec(u.sample, 'reason');
    kind ??= promptKindOf(prompt);
    const item: BatchItem = {
      id,
      messages: buildPrompt(prompt),
      // kar's request seed, as on the synchronous path.
      seed: 0,
      ...(input.model ? { model: input.model } : {}),
      meta: { runId: input.runId, stage: 'refine', role: 'teacher' satisfies LlmRole, domain: input.domain, entityId: u.entityId },
    };
    const cached = await cache.peek(bc.resolve(item).hash);
    if (cached) {
      try {
        parseAnswer(promptKindOf(prompt), cached.text);
        continue;
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
      }
    }
    items.push(item);
  }
  let send = items;
  if (hasCap(input.cap) && items.length > 0) {
    const used = await new LlmBudget(store).total(input.runId);
    const room = capReached(input.cap, used) ? 0 : input.cap.maxCalls !== undefined ? Math.max(0, input.cap.maxCalls - used.calls) : items.length;
    send = items.slice(0, room);
  }
  // The first write wins: a retried prepare (or a second worker) keeps the round as it was decided.
  if (await store.putIfAbsent(roundKey(input), JSON.stringify({ round: input.round, ...(kind ? { kind } : {}), items: send, skipped: items.length - send.length }))) {
    for (const item of items.slice(send.length)) {
      await store.putIfAbsent(failureKey(input, indexOf(item.id)), JSON.stringify({ outcome: 'failed_transport', message: 'not asked: the run-level LLM cap (llm.cap) left no room in the teacher\'s batches' }));
    }
  }
  const written = (await readJson(store, roundKey(input), RoundSchema))!;
  return { requests: written.items.length, skipped: written.skipped };
}

async function readRound(store: ArtifactStore, scope: KarRoundScope): Promise<z.infer<typeof RoundSchema>> {
  const r = await readJson(store, roundKey(scope), RoundSchema);
  if (!r) throw new Error(`kar batch: ${store.description}/${roundKey(scope)} is missing (the round was never prepared)`);
  return r;
}

/** Batch metadata: the kar rounds are their own stage at the provider (construct's rounds never match them). */
const batchScope = (s: KarRoundScope) => ({ runId: s.runId, stage: 'refine-kar', domain: s.domain, round: s.round });

/** The round's batches: found by their metadata (run, stage, domain, round, part, content) or created. */
export async function submitKarRound(store: ArtifactStore, bc: BatchClient, scope: KarRoundScope): Promise<BatchInfo[]> {
  const { items } = await readRound(store, scope);
  return items.length === 0 ? [] : bc.submitAll(batchScope(scope), items);
}

/**
 * Reads the round's finished batches: answers into the cache (the synchronous path's parser),
 * re-asks and resubmissions for the next round, failures for good (each written where the fan-out
 * finds it); charges the round's calls to the run's budget once, at the batch price.
 */
export async function collectKarRound(
  store: ArtifactStore,
  bc: BatchClient,
  scope: KarRoundScope & { batchIds: string[]; llm: Pick<R4ecConfig['llm'], 'formatRetries' | 'transport' | 'prices'>; free: boolean },
): Promise<CollectedKarRound> {
  let collected = await readJson(store, collectedKey(scope), CollectedSchema);
  if (!collected) {
    const { items, kind } = await readRound(store, scope);
    if (items.length > 0 && !kind) throw new Error(`kar batch: ${store.description}/${roundKey(scope)} names no prompt kind`);
    const handling = karHandling(scope.llm, kind!);
    const files = bc.plan(items);
    if (files.length !== scope.batchIds.length) throw new Error(`kar batch round ${scope.round}: ${files.length} files but ${scope.batchIds.length} batches`);
    const results: BatchItemResult<ParsedAnswer>[] = [];
    for (const [i, f] of files.entries()) {
      const batch = await bc.poll(scope.batchIds[i]!);
      const inFile = new Set(f.customIds);
      results.push(...(await bc.collect(batch, items.filter((it) => inFile.has(bc.resolve(it).hash)), handling)));
    }
    const c: Collected = {
      round: scope.round,
      results: results.map((r) => {
        const base = { id: r.id, status: r.status, usage: r.usage };
        if (r.status === 'ok') return { ...base, model: r.model };
        if (r.status === 'retry') return { ...base, next: r.item, reason: `${r.code}: ${r.error}` };
        if (r.status === 'failed_format') return { ...base, model: r.model, reason: `${r.code}: ${r.error} (after ${r.formatAttempts} attempts)` };
        return { ...base, reason: `${r.code}: ${r.error} (batch: ${scope.llm.transport.maxAttempts} deliveries at most)` };
      }),
    };
    await store.putIfAbsent(collectedKey(scope), JSON.stringify(c));
    collected = (await readJson(store, collectedKey(scope), CollectedSchema))!;
  }
  for (const r of collected.results) {
    if (r.status === 'failed_format' || r.status === 'failed_transport') await store.putIfAbsent(failureKey(scope, indexOf(r.id)), JSON.stringify({ outcome: r.status, message: r.reason ?? r.status }));
  }
  const usage = collected.results.reduce((a, r) => addUsage(a, r.usage), zeroUsage());
  const model = collected.results.find((r) => r.model)?.model;
  const price = model && !scope.free ? priceFor(model, priceTable(scope.llm.prices)) : undefined;
  const usd = price ? costUsd(usage, price, 'batch') : 0;
  await new LlmBudget(store).charge(scope.runId, { calls: usage.calls, tokens: usage.promptTokens + usage.completionTokens, usd }, 0, `refine-kar-${scope.domain}-${scope.session}-r${scope.round}`);
  const count = (s: string) => collected.results.filter((r) => r.status === s).length;
  return { ok: count('ok'), retry: count('retry'), failed: count('failed_format') + count('failed_transport'), usage };
}
