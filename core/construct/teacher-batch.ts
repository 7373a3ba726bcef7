// The construct stage's teacher calls on the Batch API (`llm.teacher.batch.enabled`), in rounds the
// stage workflow drives with durable timers between polls:
//
//   prepare(round) → submit(round) → poll … poll → collect(round) → prepare(round + 1) → …
//
// `prepare` runs Algorithm 1 (core/rules runConstructChain, the synchronous path's own code) for
// every unit that has no record, answering each teacher call from the LLM answer cache only. A unit
// whose chain reaches a decision is recorded as the synchronous path would record it; a unit that
// needs an answer the cache lacks contributes that one request (the exact request the synchronous
// path would send, same cache key) to the round — or, when the last round's answer to it did not
// parse or its line failed, the re-ask or the resubmission that round handed back. `submit` packs
// the round's requests into files and finds (by metadata) or creates their batches; `collect`
// reads the finished batches into the same cache with the same parser. A round whose requests all
// settle lets the next `prepare` move every unit one step further, so a unit's reason, reflect and
// refine calls go out in successive rounds; the rounds end when every unit is recorded.
//
// Everything a round needs is in the store under the session (the stage workflow's first run):
// `<workKey>/teacher-batch/<session>/round-<n>.json` (the items) and `collected-<n>.json` (what
// each item came to), each written once, so a retried or re-executed activity reads what its
// first attempt decided and a killed worker never changes a round's requests (the files, and so
// the batches found by their content hash, stay the same).
import { z } from 'zod';
import type { ConstructOutcome, Domain } from '../../config/names';
import type { R4ecConfig } from '../../config/schema';
import type { BatchClient, BatchHandling, BatchInfo, BatchItemResult } from '../llm/batch';
import { BatchItemSchema, type BatchItem } from '../llm/batch-files';
import type { LlmCache } from '../llm/cache';
import { FormatError, correctionTurn, parseAnswer, type ParsedAnswer } from '../llm/parse';
import { costUsd, priceFor, priceTable } from '../llm/prices';
import { buildPrompt, promptKindOf, type PromptSpec } from '../prompts/builders';
import type { PromptKind } from '../prompts/tags';
import { addUsage, runConstructChain, workflowIds, zeroUsage, type ConstructCallFailure, type LlmUsage } from '../rules';
import { LlmBudget, capReached, hasCap, type LlmCap } from '../refine/budget';
import type { ArtifactStore } from '../store';
import type { InferenceSteps } from './records';
import { datasetFor, loadUnits, readPlanInfo, recordInference, sampleOf, type ConstructUnit } from './work';

/** Who writes the records of the batch path (not a `batch/…` execution: its failures are final). */
export const TEACHER_BATCH_EXECUTION = 'teacher-batch';

const PromptKindSchema = z.object({ domain: z.enum(['user', 'item']), step: z.enum(['reason', 'reflect', 'refine']), variant: z.enum(['construct', 'inference']), medium: z.enum(['movie', 'book']) });
const RoundItemSchema = z.object({ item: BatchItemSchema, kind: PromptKindSchema });
type RoundItem = z.infer<typeof RoundItemSchema>;
const RoundSchema = z.object({ round: z.number().int().positive(), items: z.array(RoundItemSchema), skipped: z.number().int().min(0).default(0) });

const UsageSchema = z.object({ calls: z.number(), cacheHits: z.number(), promptTokens: z.number(), completionTokens: z.number() });
const CollectedSchema = z.object({
  round: z.number().int().positive(),
  results: z.array(
    z.object({
      id: z.string(),
      status: z.enum(['ok', 'retry', 'failed_format', 'failed_transport']),
      usage: UsageSchema,
      model: z.string().optional(),
      next: RoundItemSchema.optional(),
      reason: z.string().optional(),
    }),
  ),
});
type Collected = z.infer<typeof CollectedSchema>;

export interface TeacherRoundScope {
  runId: string;
  domain: Domain;
  workKey: string;
  datasetKey: string;
  inferencesPerSample: number;
  /** The stage workflow's first run id: the rounds of one execution of the stage. */
  session: string;
  round: number;
}

export interface PrepareRoundInput extends TeacherRoundScope {
  cap: LlmCap;
}

export interface PreparedRound {
  /** Requests this round sends (0: every unit is recorded, or the rest are skipped at the cap). */
  requests: number;
  /** Units recorded by this prepare. */
  recorded: number;
  /** Units left without a record because the call cap is reached (`skipped_call_cap`). */
  skipped: number;
}

export interface CollectedRound {
  ok: number;
  retry: number;
  failed: number;
  usage: LlmUsage;
}

const dir = (s: Pick<TeacherRoundScope, 'workKey' | 'session'>) => `${s.workKey}/teacher-batch/${s.session.replace(/[^A-Za-z0-9._-]/g, '_')}`;
const roundKey = (s: TeacherRoundScope, round = s.round) => `${dir(s)}/round-${round}.json`;
const collectedKey = (s: TeacherRoundScope, round = s.round) => `${dir(s)}/collected-${round}.json`;

async function readJson<T>(store: ArtifactStore, key: string, schema: z.ZodType<T>): Promise<T | undefined> {
  if (!(await store.exists(key))) return undefined;
  const text = (await store.get(key)).toString('utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error(`${store.description}/${key}: not JSON (a teacher batch round file)`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new Error(`${store.description}/${key}: field "${i.path.join('.')}": ${i.message}`);
  }
  return r.data;
}

const unitId = (u: Pick<ConstructUnit, 'planIndex' | 'k'>) => `${u.planIndex}-${u.k}`;
const unitOf = (itemId: string) => itemId.slice(0, itemId.indexOf('/'));
const stepOf = (itemId: string) => itemId.slice(itemId.indexOf('/') + 1);

/** The parser and correction turn of the synchronous path, by the item's prompt kind. */
export function constructHandling(kinds: ReadonlyMap<string, PromptKind>, llm: Pick<R4ecConfig['llm'], 'formatRetries' | 'transport'>): BatchHandling<ParsedAnswer> {
  const kindOf = (item: BatchItem) => {
    const k = kinds.get(item.id);
    if (!k) throw new Error(`teacher batch: no prompt kind for item ${item.id}`);
    return k;
  };
  return {
    parse: (item, text) => parseAnswer(kindOf(item), text),
    correction: (item, err) => correctionTurn(kindOf(item), err),
    formatRetries: llm.formatRetries,
    transportAttempts: llm.transport.maxAttempts,
  };
}

class Blocked extends Error {}

/** What every earlier round of this session came to: failures (final), usage per unit, and the last round's hand-backs. */
async function history(store: ArtifactStore, scope: TeacherRoundScope) {
  const failures = new Map<string, { outcome: ConstructOutcome; reason: string }>();
  const usage = new Map<string, LlmUsage>();
  let handBacks = new Map<string, RoundItem>();
  for (let r = 1; r < scope.round; r++) {
    const c = await readJson(store, collectedKey(scope, r), CollectedSchema);
    if (!c) throw new Error(`teacher batch: round ${r} of ${dir(scope)} was never collected (round ${scope.round} cannot be prepared)`);
    const backs = new Map<string, RoundItem>();
    for (const res of c.results) {
      const u = unitOf(res.id);
      usage.set(u, addUsage(usage.get(u) ?? zeroUsage(), res.usage));
      if (res.status === 'failed_format' || res.status === 'failed_transport') failures.set(res.id, { outcome: res.status, reason: `${stepOf(res.id)}: ${res.reason ?? res.status}` });
      if (res.status === 'retry' && res.next) backs.set(res.id, res.next);
    }
    handBacks = backs;
  }
  return { failures, usage, handBacks };
}

/**
 * Records every unit the cache (and the failures of earlier rounds) lets finish, and writes this
 * round's requests: one per unit still waiting on the teacher. With a call cap, units beyond the
 * room left are not asked (they stay without a record: `skipped_call_cap` until the cap is raised).
 */
export async function prepareTeacherRound(store: ArtifactStore, cache: LlmCache, bc: BatchClient, input: PrepareRoundInput): Promise<PreparedRound> {
  const existing = await readJson(store, roundKey(input), RoundSchema);
  if (existing) return { requests: existing.items.length, recorded: 0, skipped: existing.skipped };
  const { failures, usage, handBacks } = await history(store, input);
  const info = await readPlanInfo(store, input.workKey);
  const units = await loadUnits(store, input.workKey, 0, info.sampled * input.inferencesPerSample, input.inferencesPerSample);
  const ds = await datasetFor(store, input.datasetKey);
  const items: RoundItem[] = [];
  const blocked: Array<{ unit: ConstructUnit; sample: ReturnType<typeof sampleOf>['sample'] }> = [];
  let recorded = 0;
  for (const unit of units) {
    if (unit.doneOutcome !== undefined) continue;
    const id = unitId(unit);
    const { sample, reasonSpec } = sampleOf(ds, input.domain, unit.entry);
    const steps: InferenceSteps = {};
    const ask = async (step: 'reason' | 'reflect' | 'refine', prompt: PromptSpec): Promise<ParsedAnswer | ConstructCallFailure> => {
      const kind = promptKindOf(prompt);
      const item: BatchItem = {
        id: `${id}/${step}`,
        messages: buildPrompt(prompt),
        // Request seed: the inference number k, as on the synchronous path.
        seed: unit.k,
        meta: { runId: input.runId, stage: 'construct', role: 'teacher', domain: input.domain, entityId: unit.entry.entityId },
      };
      const cached = await cache.peek(bc.resolve(item).hash);
      if (cached) {
        try {
          return parseAnswer(kind, cached.text);
        } catch (e) {
          if (!(e instanceof FormatError)) throw e;
        }
      }
      const failed = failures.get(item.id);
      if (failed) return { failed: failed.outcome, reason: failed.reason };
      items.push(handBacks.get(item.id) ?? { item, kind });
      throw new Blocked();
    };
    let decision;
    try {
      decision = await runConstructChain(sample.label, reasonSpec, ask, steps);
    } catch (e) {
      if (e instanceof Blocked) {
        blocked.push({ unit, sample });
        continue;
      }
      throw e;
    }
    await recordInference(store, {
      workKey: input.workKey,
      workflowId: workflowIds.constructInference(input.runId, input.domain, unit.entry.entityId, unit.k),
      planIndex: unit.planIndex,
      k: unit.k,
      seed: unit.k,
      sample,
      outcome: decision.outcome,
      reason: decision.reason,
      steps,
      usage: usage.get(id) ?? zeroUsage(),
      execution: `${TEACHER_BATCH_EXECUTION}/${input.session}`,
    });
    recorded++;
  }
  // The cap: a round sends at most the calls left; the units beyond wait for a higher cap.
  let send = items;
  const capped = hasCap(input.cap);
  if (capped && items.length > 0) {
    const used = await new LlmBudget(store).total(input.runId);
    const room = capReached(input.cap, used) ? 0 : input.cap.maxCalls !== undefined ? Math.max(0, input.cap.maxCalls - used.calls) : items.length;
    send = items.slice(0, room);
  }
  const written0 = await readJson(store, roundKey(input), RoundSchema);
  // Not asked: recorded as skipped_call_cap (no records of its own), asked again once the cap has room.
  if (!written0) {
    for (const { unit, sample } of blocked.slice(send.length)) {
      await recordInference(store, {
        workKey: input.workKey,
        workflowId: workflowIds.constructInference(input.runId, input.domain, unit.entry.entityId, unit.k),
        planIndex: unit.planIndex,
        k: unit.k,
        seed: unit.k,
        sample,
        outcome: 'skipped_call_cap',
        reason: `the run-level LLM cap (llm.cap) is reached: not asked`,
        steps: {},
        usage: usage.get(unitId(unit)) ?? zeroUsage(),
        execution: `${TEACHER_BATCH_EXECUTION}/${input.session}`,
      });
    }
  }
  await store.putIfAbsent(roundKey(input), JSON.stringify({ round: input.round, items: send, skipped: items.length - send.length }));
  const written = (await readJson(store, roundKey(input), RoundSchema))!;
  return { requests: written.items.length, recorded, skipped: written.skipped };
}

async function roundItems(store: ArtifactStore, scope: TeacherRoundScope): Promise<RoundItem[]> {
  const r = await readJson(store, roundKey(scope), RoundSchema);
  if (!r) throw new Error(`teacher batch: ${store.description}/${roundKey(scope)} is missing (the round was never prepared)`);
  return r.items;
}

const batchScope = (s: TeacherRoundScope) => ({ runId: s.runId, stage: 'construct', domain: s.domain, round: s.round });

/** The round's batches: found by their metadata (run, stage, domain, round, part, content) or created. */
export async function submitTeacherRound(store: ArtifactStore, bc: BatchClient, scope: TeacherRoundScope): Promise<BatchInfo[]> {
  const items = await roundItems(store, scope);
  return items.length === 0 ? [] : bc.submitAll(batchScope(scope), items.map((i) => i.item));
}

/**
 * Reads the round's finished batches: answers into the cache (the same parser as the synchronous
 * path), re-asks and resubmissions for the next round, failures for good; charges the calls to the
 * run's budget once. Written once: a second collect of the round returns what the first decided.
 */
export async function collectTeacherRound(
  store: ArtifactStore,
  bc: BatchClient,
  scope: TeacherRoundScope & { batchIds: string[]; llm: Pick<R4ecConfig['llm'], 'formatRetries' | 'transport' | 'prices'>; free: boolean },
): Promise<CollectedRound> {
  let collected = await readJson(store, collectedKey(scope), CollectedSchema);
  if (!collected) {
    const items = await roundItems(store, scope);
    const kinds = new Map(items.map((i) => [i.item.id, i.kind] as const));
    const handling = constructHandling(kinds, scope.llm);
    const files = bc.plan(items.map((i) => i.item));
    if (files.length !== scope.batchIds.length) throw new Error(`teacher batch round ${scope.round}: ${files.length} files but ${scope.batchIds.length} batches`);
    const results: BatchItemResult<ParsedAnswer>[] = [];
    for (const [i, f] of files.entries()) {
      const batch = await bc.poll(scope.batchIds[i]!);
      const inFile = new Set(f.customIds);
      results.push(...(await bc.collect(batch, items.map((it) => it.item).filter((it) => inFile.has(bc.resolve(it).hash)), handling)));
    }
    const c: Collected = {
      round: scope.round,
      results: results.map((r) => {
        const base = { id: r.id, status: r.status, usage: r.usage };
        if (r.status === 'ok') return { ...base, model: r.model };
        if (r.status === 'retry') return { ...base, next: { item: r.item, kind: kinds.get(r.id)! }, reason: `${r.code}: ${r.error}` };
        if (r.status === 'failed_format') return { ...base, model: r.model, reason: `${r.code}: ${r.error} (after ${r.formatAttempts} attempts)` };
        return { ...base, reason: `${r.code}: ${r.error} (batch: ${scope.llm.transport.maxAttempts} deliveries at most)` };
      }),
    };
    await store.putIfAbsent(collectedKey(scope), JSON.stringify(c));
    collected = (await readJson(store, collectedKey(scope), CollectedSchema))!;
  }
  {
    // The round's calls against the run-level cap, once (the charge id is the round's).
    const usage = collected.results.reduce((a, r) => addUsage(a, r.usage), zeroUsage());
    const model = collected.results.find((r) => r.model)?.model;
    const price = model && !scope.free ? priceFor(model, priceTable(scope.llm.prices)) : undefined;
    const usd = price ? costUsd(usage, price, 'batch') : 0;
    await new LlmBudget(store).charge(scope.runId, { calls: usage.calls, tokens: usage.promptTokens + usage.completionTokens, usd }, 0, `construct-${scope.domain}-${scope.session}-r${scope.round}`);
  }
  const count = (s: string) => collected.results.filter((r) => r.status === s).length;
  return { ok: count('ok'), retry: count('retry'), failed: count('failed_format') + count('failed_transport'), usage: collected.results.reduce((a, r) => addUsage(a, r.usage), zeroUsage()) };
}

/** The most rounds the path can need: each of Algorithm 1's three calls settles within formatRetries + transportAttempts + 1 rounds. */
export function maxTeacherRounds(llm: Pick<R4ecConfig['llm'], 'formatRetries' | 'transport'>): number {
  return 3 * (llm.formatRetries + llm.transport.maxAttempts + 1);
}
