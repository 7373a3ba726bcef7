// The run-level cap on LLM calls and tokens (`llm.cap`), counted in the store so it survives worker
// restarts and reruns of the same run id (a rerun with a higher cap continues where the run stopped).
//
// Every worker process owns one shard object `llm-budget/<run>/<shard>.json` and is its only writer,
// so concurrent processes never lose each other's increments; the total is the sum of the shards.
// Before an entity starts, `reserve` books the algorithm's minimum number of calls for it (in this
// process), so a window of entities starting together cannot all pass the check at once; `charge`
// replaces the booking with what the entity really used. The cap can still be overshot by what
// entities already running use beyond their minimum: it stops *new* work cleanly, never a half-done
// entity.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { z } from 'zod';
import type { ArtifactStore } from '../store';

export interface LlmCap {
  maxCalls?: number | undefined;
  maxTokens?: number | undefined;
}

export interface BudgetTotals {
  calls: number;
  tokens: number;
}

const ShardSchema = z.object({ calls: z.number().int().nonnegative(), tokens: z.number().nonnegative() });

export function budgetPrefix(runId: string): string {
  return `llm-budget/${runId.replace(/[^A-Za-z0-9._-]/g, '_')}/`;
}

/** True when the cap leaves no room for `more` calls on top of `used`. */
export function capReached(cap: LlmCap, used: BudgetTotals, more = 0): boolean {
  if (cap.maxCalls !== undefined && used.calls + more > cap.maxCalls) return true;
  if (cap.maxTokens !== undefined && used.tokens >= cap.maxTokens) return true;
  return false;
}

export class LlmBudget {
  private readonly own = new Map<string, BudgetTotals>();
  private readonly reserved = new Map<string, number>();
  private readonly others = new Map<string, { at: number; totals: BudgetTotals }>();
  private readonly writes = new Map<string, Promise<void>>();
  private readonly charged = new Set<string>();

  constructor(
    private readonly store: ArtifactStore,
    readonly shardId = `${hostname().replace(/[^A-Za-z0-9-]/g, '')}-${process.pid}-${randomBytes(3).toString('hex')}`,
    /** How long other processes' shards are trusted before they are read again. */
    private readonly othersTtlMs = 250,
  ) {}

  private shardKey(runId: string): string {
    return `${budgetPrefix(runId)}${this.shardId}.json`;
  }

  /** Calls and tokens charged so far for the run, by every process. */
  async total(runId: string): Promise<BudgetTotals> {
    const cached = this.others.get(runId);
    let others = cached?.totals;
    if (!cached || Date.now() - cached.at > this.othersTtlMs) {
      others = { calls: 0, tokens: 0 };
      const mine = this.shardKey(runId);
      for (const key of await this.store.list(budgetPrefix(runId))) {
        if (key === mine || !key.endsWith('.json')) continue;
        let raw: unknown;
        try {
          raw = JSON.parse((await this.store.get(key)).toString('utf8'));
        } catch {
          continue; // a shard being replaced: the next read sees it
        }
        const s = ShardSchema.safeParse(raw);
        if (!s.success) throw new Error(`${this.store.description}/${key}: not an LLM budget shard ({calls, tokens})`);
        others.calls += s.data.calls;
        others.tokens += s.data.tokens;
      }
      this.others.set(runId, { at: Date.now(), totals: others });
    }
    const own = this.own.get(runId) ?? { calls: 0, tokens: 0 };
    return { calls: own.calls + others!.calls, tokens: own.tokens + others!.tokens };
  }

  /** Books `calls` for one entity unless the cap is reached; returns whether it may start. */
  async reserve(runId: string, cap: LlmCap, calls: number): Promise<{ granted: boolean; used: BudgetTotals }> {
    const used = await this.total(runId);
    if (cap.maxCalls === undefined && cap.maxTokens === undefined) return { granted: true, used };
    const booked = this.reserved.get(runId) ?? 0;
    if (capReached(cap, used, booked + calls)) return { granted: false, used };
    this.reserved.set(runId, booked + calls);
    return { granted: true, used };
  }

  /**
   * Adds what an entity used and releases its booking. `chargeId` (the entity workflow's execution
   * id) makes a retried charge a no-op within this process.
   */
  async charge(runId: string, used: BudgetTotals, releaseCalls: number, chargeId?: string): Promise<BudgetTotals> {
    if (chargeId !== undefined) {
      if (this.charged.has(chargeId)) return this.total(runId);
      this.charged.add(chargeId);
    }
    this.reserved.set(runId, Math.max(0, (this.reserved.get(runId) ?? 0) - releaseCalls));
    const own = this.own.get(runId) ?? { calls: 0, tokens: 0 };
    const next = { calls: own.calls + used.calls, tokens: own.tokens + used.tokens };
    this.own.set(runId, next);
    // Writes of one shard are chained so an older value never lands after a newer one.
    const write = (this.writes.get(runId) ?? Promise.resolve()).then(() => this.store.put(this.shardKey(runId), JSON.stringify(this.own.get(runId))));
    this.writes.set(runId, write.catch(() => undefined));
    await write;
    return this.total(runId);
  }
}
