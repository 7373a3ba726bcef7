// The run-level cap on LLM calls and tokens (`llm.cap`: calls, tokens, USD), counted in the store so it survives worker
// restarts, a retry on another machine and reruns of the same run id (a rerun with a higher cap
// continues where the run stopped).
//
// Every charge is a record with the id of the execution it charges, stored in write-once objects under
// `llm-budget/<run>/charges/` (the charges a process makes while its previous write is in flight share
// one object): workers on any number of machines never modify a shared object, and a charge retried
// anywhere (the same execution's id) counts once, at the larger of its records. The total is the sum
// over charge ids; an object never changes, so each process reads each one once. (Charges written
// before grouping are one object each, `<chargeId>.json`, and read the same way.) Before an entity starts, `reserve`
// books the algorithm's minimum number of calls for it (in this process), so a window of entities
// starting together cannot all pass the check at once; `charge` replaces the booking with what the
// entity really used. The cap can still be overshot by what entities already running (on any worker)
// use beyond what the store shows: it stops *new* work cleanly, never a half-done entity.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { ArtifactStore } from '../store';
import { GroupCommit, listLogKeys, logGroupBody, logObjectName, logRecords } from '../store/record-log';

export interface LlmCap {
  maxCalls?: number | undefined;
  maxTokens?: number | undefined;
  /** USD at `llm.prices` (the batch price for batch answers; models the simulator plays cost nothing). */
  maxUsd?: number | undefined;
}

export interface BudgetTotals {
  calls: number;
  tokens: number;
  /** Charges written before money was counted have none: 0. */
  usd?: number;
}

const ChargeSchema = z.object({ calls: z.number().int().nonnegative(), tokens: z.number().nonnegative(), usd: z.number().nonnegative().optional() });

/** Whether any limit of the cap is set. */
export function hasCap(cap: LlmCap): boolean {
  return cap.maxCalls !== undefined || cap.maxTokens !== undefined || cap.maxUsd !== undefined;
}

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
  if (cap.maxUsd !== undefined && (used.usd ?? 0) >= cap.maxUsd) return true;
  return false;
}

/** One charge as stored in a group object; `id` makes a charge retried anywhere count once. */
const StoredChargeSchema = ChargeSchema.extend({ id: z.string().min(1) });
type StoredCharge = z.infer<typeof StoredChargeSchema>;

/** Of two records of the same charge (a retried execution), the larger count stands: the cap never undercounts. */
function merge(a: BudgetTotals | undefined, b: BudgetTotals): BudgetTotals {
  if (!a) return b;
  return { calls: Math.max(a.calls, b.calls), tokens: Math.max(a.tokens, b.tokens), usd: Math.max(a.usd ?? 0, b.usd ?? 0) };
}

export class LlmBudget {
  private readonly reserved = new Map<string, number>();
  /** Per run: every charge seen (read, or written by this process), by charge id. */
  private readonly charges = new Map<string, Map<string, BudgetTotals>>();
  /** Per run: the charge objects already read (or written here). */
  private readonly objects = new Map<string, Set<string>>();
  private readonly listedAt = new Map<string, number>();
  private readonly writers = new Map<string, GroupCommit<StoredCharge>>();

  constructor(
    private readonly store: ArtifactStore,
    /** How long the listing of other processes' charges is trusted before it is read again. */
    private readonly othersTtlMs = 250,
  ) {}

  private of<V>(m: Map<string, V>, runId: string, make: () => V): V {
    let v = m.get(runId);
    if (!v) m.set(runId, (v = make()));
    return v;
  }

  /** A charge object's charges: a group (`{ records: [{ id, calls, tokens, usd? }] }`), or one charge named by its key. */
  private parseObject(key: string, raw: Buffer): StoredCharge[] {
    const single = key.slice(key.lastIndexOf('/') + 1, -'.json'.length);
    return logRecords(this.store, key, raw, (value, where) => {
      const grouped = StoredChargeSchema.safeParse(value);
      if (grouped.success) return grouped.data;
      const s = ChargeSchema.safeParse(value);
      if (!s.success) throw new Error(`${where}: not an LLM budget charge ({calls, tokens})`);
      return { ...s.data, id: single };
    });
  }

  private note(runId: string, list: readonly StoredCharge[]): void {
    const charges = this.of(this.charges, runId, () => new Map<string, BudgetTotals>());
    for (const c of list) charges.set(c.id, merge(charges.get(c.id), { calls: c.calls, tokens: c.tokens, ...(c.usd !== undefined ? { usd: c.usd } : {}) }));
  }

  /** Calls and tokens charged so far for the run, by every process on every machine. */
  async total(runId: string): Promise<BudgetTotals> {
    if (Date.now() - (this.listedAt.get(runId) ?? -Infinity) > this.othersTtlMs) {
      const seen = this.of(this.objects, runId, () => new Set<string>());
      const fresh = await listLogKeys(this.store, chargesPrefix(runId), (k) => !seen.has(k));
      for (const k of fresh) {
        this.note(runId, this.parseObject(k, await this.store.get(k)));
        seen.add(k);
      }
      this.listedAt.set(runId, Date.now());
    }
    const sum = { calls: 0, tokens: 0, usd: 0 };
    for (const r of this.charges.get(runId)?.values() ?? []) {
      sum.calls += r.calls;
      sum.tokens += r.tokens;
      sum.usd += r.usd ?? 0;
    }
    return sum;
  }

  /** Books `calls` for one entity unless the cap is reached; returns whether it may start. */
  async reserve(runId: string, cap: LlmCap, calls: number): Promise<{ granted: boolean; used: BudgetTotals }> {
    const used = await this.total(runId);
    if (!hasCap(cap)) return { granted: true, used };
    const booked = this.reserved.get(runId) ?? 0;
    if (capReached(cap, used, booked + calls)) return { granted: false, used };
    this.reserved.set(runId, booked + calls);
    return { granted: true, used };
  }

  /**
   * Adds what an entity used and releases its booking. `chargeId` (the entity execution's id) makes
   * the charge count once wherever it is retried; without one, every call is a charge of its own.
   * Charges made while an earlier write is in flight share one write-once object (group commit);
   * this resolves once the charge is stored.
   */
  async charge(runId: string, used: BudgetTotals, releaseCalls: number, chargeId?: string): Promise<BudgetTotals> {
    const id = (chargeId ?? `anon-${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`).replace(/[^A-Za-z0-9._-]/g, '_');
    // A charge already stored (by a retry elsewhere) is not stored again, as far as the (recent)
    // listing shows; one stored twice in a race still counts once.
    await this.total(runId);
    if (!this.charges.get(runId)?.has(id)) {
      const value: StoredCharge = { id, calls: used.calls, tokens: used.tokens, ...(used.usd ? { usd: used.usd } : {}) };
      await this.writer(runId).add(value);
      this.reserved.set(runId, Math.max(0, (this.reserved.get(runId) ?? 0) - releaseCalls));
    }
    return this.total(runId);
  }

  private writer(runId: string): GroupCommit<StoredCharge> {
    return this.of(this.writers, runId, () => new GroupCommit<StoredCharge>(async (list) => {
      const key = `${chargesPrefix(runId)}${logObjectName()}`;
      await this.store.put(key, logGroupBody(list));
      this.of(this.objects, runId, () => new Set<string>()).add(key);
      this.note(runId, list);
    }));
  }
}
