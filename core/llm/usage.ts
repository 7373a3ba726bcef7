// Token usage per call, appended as JSON lines under <stateDir>/llm-usage/<runId>.jsonl, and summed
// per stage and role for the run summary and the report. A cache hit is a line with cacheHit: true
// and no tokens spent; `calls` counts requests actually sent.
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
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

export class UsageLedger {
  constructor(readonly dir: string) {}

  private file(runId: string): string {
    return join(this.dir, `${runId.replace(/[^A-Za-z0-9._-]/g, '_')}.jsonl`);
  }

  async append(record: UsageRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    // One short line per append: concurrent appends from one worker do not interleave.
    await appendFile(this.file(record.runId), JSON.stringify(record) + '\n');
  }

  /** All records of a run; a torn last line (crash mid-write) is skipped, any other bad line names its number. */
  async read(runId: string): Promise<UsageRecord[]> {
    let text: string;
    try {
      text = await readFile(this.file(runId), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const lines = text.split('\n');
    const out: UsageRecord[] = [];
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      const isLast = i >= lines.length - 2;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        if (isLast) return;
        throw new Error(`${this.file(runId)}:${i + 1}: not JSON`);
      }
      const r = UsageRecordSchema.safeParse(parsed);
      if (!r.success) throw new Error(`${this.file(runId)}:${i + 1}: ${r.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
      out.push(r.data);
    });
    return out;
  }

  async summarize(runId: string): Promise<UsageSummary> {
    return summarizeUsage(await this.read(runId));
  }
}
