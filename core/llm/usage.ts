// Token usage per call, one record per call in the artifact store (`llm-usage/<runId>/`), and summed
// per stage and role for the run summary and the report. A cache hit is a record with cacheHit: true
// and no tokens spent; `calls` counts requests actually sent.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { LocalStore, type ArtifactStore } from '../store';
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

/** Where usage records live in the shared store: one object per record under `llm-usage/<runId>/`. */
export const USAGE_PREFIX = 'llm-usage/';

export class UsageLedger {
  readonly store: ArtifactStore;
  private readonly prefix: string;

  /** `target`: the store every worker shares, or a local directory of its own (tests, tools). */
  constructor(target: ArtifactStore | string, prefix?: string) {
    if (typeof target === 'string') {
      this.store = new LocalStore(target);
      this.prefix = prefix ?? '';
    } else {
      this.store = target;
      this.prefix = prefix ?? USAGE_PREFIX;
    }
  }

  private runPrefix(runId: string): string {
    return `${this.prefix}${runId.replace(/[^A-Za-z0-9._-]/g, '_')}/`;
  }

  /**
   * One object of its own per record (a time-ordered, random name), so writers on any number of
   * machines never touch a shared object and a crash loses at most the record being written.
   */
  async append(record: UsageRecord): Promise<void> {
    const at = Date.parse(record.at);
    const name = `${(Number.isFinite(at) ? at : Date.now()).toString(36).padStart(9, '0')}-${randomBytes(6).toString('hex')}.json`;
    await this.store.put(`${this.runPrefix(record.runId)}${name}`, JSON.stringify(record));
  }

  /** All records of a run, oldest first; a record that does not parse names its key. */
  async read(runId: string): Promise<UsageRecord[]> {
    const keys: string[] = [];
    let startAfter: string | undefined;
    do {
      const page = await this.store.listPage(this.runPrefix(runId), startAfter !== undefined ? { startAfter } : {});
      keys.push(...page.keys.filter((k) => k.endsWith('.json')));
      startAfter = page.next;
    } while (startAfter !== undefined);
    const out: UsageRecord[] = new Array<UsageRecord>(keys.length);
    let next = 0;
    const readOne = async (): Promise<void> => {
      for (let i = next++; i < keys.length; i = next++) {
        const key = keys[i]!;
        let parsed: unknown;
        try {
          parsed = JSON.parse((await this.store.get(key)).toString('utf8'));
        } catch (e) {
          if (e instanceof SyntaxError) throw new Error(`${this.store.description}/${key}: not JSON`);
          throw e;
        }
        const r = UsageRecordSchema.safeParse(parsed);
        if (!r.success) throw new Error(`${this.store.description}/${key}: ${r.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
        out[i] = r.data;
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, keys.length) }, readOne));
    return out.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  }

  async summarize(runId: string): Promise<UsageSummary> {
    return summarizeUsage(await this.read(runId));
  }
}
