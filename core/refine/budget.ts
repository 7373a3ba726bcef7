// The run-level cap on LLM calls and tokens (`llm.cap`), counted in the store so it survives worker
// restarts, a retry on another machine and reruns of the same run id (a rerun with a higher cap
// continues where the run stopped).
//
// Every charge is a write-once record of its own, `llm-budget/<run>/charges/<chargeId>.json`, created
// with `putIfAbsent`: workers on any number of machines never modify a shared object, and a charge
// retried anywhere (the same entity execution's id) counts once. The total is the sum of the records;
// a record never changes, so each process reads each one once. Before an entity starts, `reserve`
// books the algorithm's minimum number of calls for it (in this process), so a window of entities
// starting together cannot all pass the check at once; `charge` replaces the booking with what the
// entity really used. The cap can still be overshot by what entities already running (on any worker)
// use beyond what the store shows: it stops *new* work cleanly, never a half-done entity.
import { randomBytes } from 'node:crypto';
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

const ChargeSchema = z.object({ calls: z.number().int().nonnegative(), tokens: z.number().nonnegative() });

export function budgetPrefix(runId: string): string {
  return `llm-budget/${runId.replace(/[^A-Za-z0-9._-]/g, '_')}/`;
}

function chargesPrefix(runId: string): string {
  return `${budgetPrefix(runId)}charges/`;
}

/** True when the cap leaves no room for `more` calls on top of `used`. */
export function capReached(cap: LlmCap, used: BudgetTotals, more = 0): boolean {
  if (cap.maxCalls !== undefined && used.calls + more > cap.maxCalls) return true;
  if (cap.maxTokens !== undefined && used.tokens >= cap.maxTokens) return true;
  return false;
}

export class LlmBudget {
  private readonly reserved = new Map<string, number>();
  /** Per run: every charge record seen (read, or written by this process), by key. */
  private readonly known = new Map<string, Map<string, BudgetTotals>>();
  private readonly listedAt = new Map<string, number>();

  constructor(
    private readonly store: ArtifactStore,
    /** How long the listing of other processes' charges is trusted before it is read again. */
    private readonly othersTtlMs = 250,
  ) {}

  private records(runId: string): Map<string, BudgetTotals> {
    let m = this.known.get(runId);
    if (!m) this.known.set(runId, (m = new Map()));
    return m;
  }

  private async read(key: string): Promise<BudgetTotals> {
    let raw: unknown;
    try {
      raw = JSON.parse((await this.store.get(key)).toString('utf8'));
    } catch (e) {
      if (e instanceof SyntaxError) throw new Error(`${this.store.description}/${key}: not JSON (an LLM budget charge is {calls, tokens})`);
      throw e;
    }
    const s = ChargeSchema.safeParse(raw);
    if (!s.success) throw new Error(`${this.store.description}/${key}: not an LLM budget charge ({calls, tokens})`);
    return s.data;
  }

  /** Calls and tokens charged so far for the run, by every process on every machine. */
  async total(runId: string): Promise<BudgetTotals> {
    const records = this.records(runId);
    if (Date.now() - (this.listedAt.get(runId) ?? -Infinity) > this.othersTtlMs) {
      const fresh: string[] = [];
      let startAfter: string | undefined;
      do {
        const page = await this.store.listPage(chargesPrefix(runId), startAfter !== undefined ? { startAfter } : {});
        for (const k of page.keys) if (k.endsWith('.json') && !records.has(k)) fresh.push(k);
        startAfter = page.next;
      } while (startAfter !== undefined);
      for (const k of fresh) records.set(k, await this.read(k));
      this.listedAt.set(runId, Date.now());
    }
    const sum = { calls: 0, tokens: 0 };
    for (const r of records.values()) {
      sum.calls += r.calls;
      sum.tokens += r.tokens;
    }
    return sum;
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
   * Adds what an entity used and releases its booking. `chargeId` (the entity execution's id) makes
   * the charge count once wherever it is retried; without one, every call is a charge of its own.
   */
  async charge(runId: string, used: BudgetTotals, releaseCalls: number, chargeId?: string): Promise<BudgetTotals> {
    const id = (chargeId ?? `anon-${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`).replace(/[^A-Za-z0-9._-]/g, '_');
    const key = `${chargesPrefix(runId)}${id}.json`;
    const records = this.records(runId);
    if (!records.has(key)) {
      const value = { calls: used.calls, tokens: used.tokens };
      // Lost the race: the charge was made before (by a retry elsewhere); the record holds its count.
      records.set(key, (await this.store.putIfAbsent(key, JSON.stringify(value))) ? value : await this.read(key));
      this.reserved.set(runId, Math.max(0, (this.reserved.get(runId) ?? 0) - releaseCalls));
    }
    return this.total(runId);
  }
}
