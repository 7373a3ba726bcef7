// Token usage per call: one record per call in the artifact store (`llm-usage/<runId>/`; the records
// of calls that complete together share one write-once object), summed per stage and role for the run
// summary and the report. A cache hit is a record with cacheHit: true and no tokens spent; `calls`
// counts requests actually sent.
import { z } from 'zod';
import type { ArtifactStore } from '../store';
import { GroupCommit, listLogKeys, logGroupBody, logObjectName, readLogObjects, storeTarget } from '../store/record-log';
import { zeroUsage, type LlmUsage } from '../rules/usage';

export const UsageRecordSchema = z.object({
  at: z.string(),
  runId: z.string(),
  stage: z.string(),
  role: z.string(),
  domain: z.string().optional(),
  entityId: z.string().optional(),
  model: z.string(),
  requestHash: z.string(),
  cacheHit: z.boolean(),
  /** ok = parsed; format_error = answered but unparsable; transport_error = no answer. */
  outcome: z.enum(['ok', 'format_error', 'transport_error']),
  promptTokens: z.number(),
  completionTokens: z.number(),
  latencyMs: z.number(),
  /** Answered through the Batch API (billed at the batch price). */
  batch: z.boolean().optional(),
});
export type UsageRecord = z.infer<typeof UsageRecordSchema>;

/** LlmUsage as stored in records and passed between activities: whole counts, no negative tokens. */
export const LlmUsageSchema = z.object({
  calls: z.number().int().nonnegative(),
  cacheHits: z.number().int().nonnegative(),
  promptTokens: z.number().nonnegative(),
  completionTokens: z.number().nonnegative(),
}) satisfies z.ZodType<LlmUsage>;

/** Counts one ledger record into `t` (a sent call, or a cache hit). */
export function addRecord(t: LlmUsage, r: Pick<UsageRecord, 'cacheHit' | 'promptTokens' | 'completionTokens'>): void {
  if (r.cacheHit) t.cacheHits++;
  else t.calls++;
  t.promptTokens += r.promptTokens;
  t.completionTokens += r.completionTokens;
}

export interface UsageSummary {
  total: LlmUsage;
  byStage: Record<string, LlmUsage>;
  byRole: Record<string, LlmUsage>;
  /** `${stage}/${role}` */
  byStageRole: Record<string, LlmUsage>;
}

export function summarizeUsage(records: Iterable<UsageRecord>): UsageSummary {
  const s: UsageSummary = { total: zeroUsage(), byStage: {}, byRole: {}, byStageRole: {} };
  for (const r of records) {
    addRecord(s.total, r);
    addRecord((s.byStage[r.stage] ??= zeroUsage()), r);
    addRecord((s.byRole[r.role] ??= zeroUsage()), r);
    addRecord((s.byStageRole[`${r.stage}/${r.role}`] ??= zeroUsage()), r);
  }
  return s;
}

/** Where usage records live in the shared store: write-once objects under `llm-usage/<runId>/`. */
export const USAGE_PREFIX = 'llm-usage/';

function parseRecord(value: unknown, where: string): UsageRecord {
  const r = UsageRecordSchema.safeParse(value);
  if (!r.success) throw new Error(`${where}: ${r.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
  return r.data;
}

export class UsageLedger {
  readonly store: ArtifactStore;
  private readonly prefix: string;
  private readonly writers = new Map<string, GroupCommit<UsageRecord>>();

  /** `target`: the store every worker shares, or a local directory of its own (tests, tools). */
  constructor(target: ArtifactStore | string, prefix?: string) {
    ({ store: this.store, prefix: this.prefix } = storeTarget(target, prefix, USAGE_PREFIX));
  }

  private runPrefix(runId: string): string {
    return `${this.prefix}${runId.replace(/[^A-Za-z0-9._-]/g, '_')}/`;
  }

  /**
   * Resolves once the record is stored. Records appended while an earlier write is in flight are
   * stored together, in one write-once object with a name of its own (time-ordered, random): writers
   * on any number of machines never touch a shared object, and a crash loses at most the records
   * whose `append` has not resolved.
   */
  append(record: UsageRecord): Promise<void> {
    const prefix = this.runPrefix(record.runId);
    let w = this.writers.get(prefix);
    if (!w) {
      w = new GroupCommit<UsageRecord>(async (records) => {
        const at = Date.parse(records[0]!.at);
        await this.store.put(`${prefix}${logObjectName(Number.isFinite(at) ? at : Date.now())}`, logGroupBody(records));
      });
      this.writers.set(prefix, w);
    }
    return w.add(record);
  }

  /** All records of a run, oldest first, from grouped and single-record objects; a bad record names its key. */
  async read(runId: string): Promise<UsageRecord[]> {
    const keys = await listLogKeys(this.store, this.runPrefix(runId));
    const out = (await readLogObjects(this.store, keys, parseRecord)).flat();
    return out.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  }

  async summarize(runId: string): Promise<UsageSummary> {
    return summarizeUsage(await this.read(runId));
  }
}
