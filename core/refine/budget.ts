// The run-level cap on LLM calls and tokens (`llm.cap`: calls, tokens, USD), counted in the store so it survives worker
// restarts, a retry on another machine and reruns of the same run id (a rerun with a higher cap
// continues where the run stopped).
//
// Every charge is a record with the id of the execution it charges, stored in write-once objects under
// `llm-budget/<run>/charges/` (the charges a process makes while its previous write is in flight share
// one object): workers on any number of machines never modify a shared object, and a charge retried
// anywhere (the same execution's id) counts once, at the larger of its records. The total is the sum
// over charge ids; an object never changes, so each process reads each one once. (Charges written
// before grouping are one object each, `<chargeId>.json`, and read the same way.)
//
// Before a unit starts, `reserve` books the algorithm's minimum number of calls for it. With a
// booking id (the id its charge will carry) the booking is a write-once record every worker sees,
// `llm-budget/<run>/bookings/<ticket>.json` ({id, calls}): the ticket is the lowest number not
// taken, claimed with `putIfAbsent`, so a ticket exists only once every lower one does. A booking
// counts until a charge with its id is seen (the charge replaces it). A reserve claims its ticket,
// lists again (which shows every lower ticket) and keeps the booking only if the charges and the
// bookings before it leave room; otherwise a refusal charge closes it. Of concurrent reservers on
// any number of workers the lower tickets win: the bookings never add up past the cap. What a unit
// uses beyond its booking (a refine call, re-asks) is charged when it finishes, so the calls can
// pass the cap by that much for the units in flight: the cap stops *new* work cleanly, never a
// half-done unit. A booking of a worker killed for good before its unit's charge stays counted (on
// the safe side) until the unit's retry (the same execution id) charges it. Without a booking id
// the booking is kept in this process only (the cheap path when no cap is set).

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

// `refused`: the zero charge that closed a booking the cap had no room for.
const ChargeSchema = z.object({ calls: z.number().int().nonnegative(), tokens: z.number().nonnegative(), usd: z.number().nonnegative().optional(), refused: z.literal(true).optional() });
type ChargeRecord = BudgetTotals & { refused?: true };
/** One charge as stored in a group object; `id` makes a charge retried anywhere count once. */
const StoredChargeSchema = ChargeSchema.extend({ id: z.string().min(1) });
type StoredCharge = z.infer<typeof StoredChargeSchema>;

/** Of two records of the same charge (a retried execution), the larger count stands: the cap never undercounts. */
function merge(a: ChargeRecord | undefined, b: ChargeRecord): ChargeRecord {
  if (!a) return b;
  const m: ChargeRecord = { calls: Math.max(a.calls, b.calls), tokens: Math.max(a.tokens, b.tokens), usd: Math.max(a.usd ?? 0, b.usd ?? 0) };
  // A refusal stands only while no record of the unit says it ran.
  return a.refused && b.refused ? { ...m, refused: true } : m;
}

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

function bookingsPrefix(runId: string): string {
  return `${budgetPrefix(runId)}bookings/`;
}

const safeId = (id: string) => id.replace(/[^A-Za-z0-9._-]/g, '_');
const ticketKey = (runId: string, n: number) => `${bookingsPrefix(runId)}${String(n).padStart(12, '0')}.json`;
const ticketOf = (key: string) => Number(key.slice(key.lastIndexOf('/') + 1, -'.json'.length));
const BookingSchema = z.object({ id: z.string(), calls: z.number().int().nonnegative() });

/** True when the cap leaves no room for `more` calls on top of `used`. */
export function capReached(cap: LlmCap, used: BudgetTotals, more = 0): boolean {
  if (cap.maxCalls !== undefined && used.calls + more > cap.maxCalls) return true;
  if (cap.maxTokens !== undefined && used.tokens >= cap.maxTokens) return true;
  if (cap.maxUsd !== undefined && (used.usd ?? 0) >= cap.maxUsd) return true;
  return false;
}

export class LlmBudget {
  private readonly reserved = new Map<string, number>();
  /** Per run: every charge seen (read, or written by this process), by charge id. */
  private readonly charges = new Map<string, Map<string, ChargeRecord>>();
  /** Per run: the charge objects already read (or written here). */
  private readonly objects = new Map<string, Set<string>>();
  private readonly writers = new Map<string, GroupCommit<StoredCharge>>();
  /** `${runId}/${id}` of the bookings this process wrote to the store (their charge releases nothing in `reserved`). */
  private readonly storeBooked = new Set<string>();
  private readonly listedAt = new Map<string, number>();
  /** Per run: every booking record seen, by key (ordered by key: time, then a per-process sequence). */
  private readonly bookings = new Map<string, Map<string, { id: string; calls: number }>>();

  constructor(
    private readonly store: ArtifactStore,
    /** How long the listing of other processes' charges is trusted before it is read again. */
    private readonly othersTtlMs = 250,
  ) {}

  private records(runId: string): Map<string, ChargeRecord> {
    let m = this.charges.get(runId);
    if (!m) this.charges.set(runId, (m = new Map()));
    return m;
  }

  /** A charge object's charges: a group (`{ records: [{ id, calls, tokens, usd?, refused? }] }`), or one charge named by its key. */
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
    const charges = this.records(runId);
    for (const { id, ...c } of list) charges.set(id, merge(charges.get(id), c));
  }

  private async readCharges(runId: string): Promise<void> {
    let seen = this.objects.get(runId);
    if (!seen) this.objects.set(runId, (seen = new Set()));
    const known = seen;
    for (const k of await listLogKeys(this.store, chargesPrefix(runId), (key) => !known.has(key))) {
      this.note(runId, this.parseObject(k, await this.store.get(k)));
      known.add(k);
    }
  }

  private writer(runId: string): GroupCommit<StoredCharge> {
    let w = this.writers.get(runId);
    if (!w) {
      w = new GroupCommit<StoredCharge>(async (list) => {
        const key = `${chargesPrefix(runId)}${logObjectName()}`;
        await this.store.put(key, logGroupBody(list));
        let seen = this.objects.get(runId);
        if (!seen) this.objects.set(runId, (seen = new Set()));
        seen.add(key);
        this.note(runId, list);
      });
      this.writers.set(runId, w);
    }
    return w;
  }

  private async listNew<T>(prefix: string, seen: Map<string, T>, read: (key: string) => Promise<T>): Promise<void> {
    const fresh: string[] = [];
    let startAfter: string | undefined;
    do {
      const page = await this.store.listPage(prefix, startAfter !== undefined ? { startAfter } : {});
      for (const k of page.keys) if (k.endsWith('.json') && !seen.has(k)) fresh.push(k);
      startAfter = page.next;
    } while (startAfter !== undefined);
    for (const k of fresh) seen.set(k, await read(k));
  }

  private bookingsOf(runId: string): Map<string, { id: string; calls: number }> {
    let m = this.bookings.get(runId);
    if (!m) this.bookings.set(runId, (m = new Map()));
    return m;
  }

  private async readBooking(key: string): Promise<{ id: string; calls: number }> {
    let raw: unknown;
    try {
      raw = JSON.parse((await this.store.get(key)).toString('utf8'));
    } catch (e) {
      if (e instanceof SyntaxError) throw new Error(`${this.store.description}/${key}: not JSON (an LLM budget booking is {id, calls})`);
      throw e;
    }
    const s = BookingSchema.safeParse(raw);
    if (!s.success) throw new Error(`${this.store.description}/${key}: not an LLM budget booking ({id, calls})`);
    return s.data;
  }

  /** Reads what other processes wrote since the last listing (at most every `othersTtlMs`, or now when `fresh`). */
  private async refresh(runId: string, fresh = false): Promise<void> {
    if (!fresh && Date.now() - (this.listedAt.get(runId) ?? -Infinity) <= this.othersTtlMs) return;
    await this.readCharges(runId);
    await this.listNew(bookingsPrefix(runId), this.bookingsOf(runId), (k) => this.readBooking(k));
    this.listedAt.set(runId, Date.now());
  }

  /** Charges, plus the bookings without a charge yet (those ordered before `before` only, when given). */
  private sum(runId: string, before?: string): BudgetTotals & { usd: number } {
    const records = this.records(runId);
    const sum = { calls: 0, tokens: 0, usd: 0 };
    for (const r of records.values()) {
      sum.calls += r.calls;
      sum.tokens += r.tokens;
      sum.usd += r.usd ?? 0;
    }
    for (const [key, b] of this.bookingsOf(runId)) {
      if (before !== undefined && key >= before) continue;
      if (!records.has(b.id)) sum.calls += b.calls;
    }
    return sum;
  }

  /** Calls (charged, and booked by units still running) and tokens so far for the run, by every process on every machine. */
  async total(runId: string): Promise<BudgetTotals> {
    await this.refresh(runId);
    return this.sum(runId);
  }

  /**
   * Books `calls` for one unit unless the cap is reached; returns whether it may start. With a
   * `bookingId` (the id of the unit's charge to come) the booking is a record every worker sees;
   * without one, it is kept in this process only.
   */
  async reserve(runId: string, cap: LlmCap, calls: number, bookingId?: string): Promise<{ granted: boolean; used: BudgetTotals }> {
    if (!hasCap(cap)) return { granted: true, used: await this.total(runId) };
    if (bookingId === undefined) {
      const used = await this.total(runId);
      const booked = this.reserved.get(runId) ?? 0;
      if (capReached(cap, used, booked + calls)) return { granted: false, used };
      this.reserved.set(runId, booked + calls);
      return { granted: true, used };
    }
    const id = safeId(bookingId);
    await this.refresh(runId, true);
    // A retried reserve: its booking stands (or its charge closed it).
    const mine = [...this.bookingsOf(runId)].find(([, b]) => b.id === id)?.[0];
    // Charged already: a unit retried after it ran (its calls were counted; a retry repeats none
    // that completed), unless the charge is the refusal of an earlier attempt.
    const charged = this.records(runId).get(id);
    if (charged) return { granted: !charged.refused, used: this.sum(runId) };
    this.storeBooked.add(`${runId}/${id}`);
    if (mine === undefined) {
      const used = this.sum(runId);
      if (capReached(cap, used, calls)) return { granted: false, used };
      // A ticket: the lowest number not taken, claimed with putIfAbsent. A ticket is written only
      // once every lower one exists, so the listing below sees every booking ordered before it.
      const bookings = this.bookingsOf(runId);
      let n = 1;
      for (const k of bookings.keys()) n = Math.max(n, ticketOf(k) + 1);
      let key = ticketKey(runId, n);
      while (!(await this.store.putIfAbsent(key, JSON.stringify({ id, calls })))) key = ticketKey(runId, ++n);
      this.bookingsOf(runId).set(key, { id, calls });
      await this.refresh(runId, true);
      // Room for this booking behind the charges and the bookings ordered before it?
      const ahead = this.sum(runId, key);
      if (capReached(cap, ahead, calls)) {
        // Refused: a zero charge closes the booking for good (a retry finds it and stays refused).
        await this.writer(runId).add({ id, calls: 0, tokens: 0, refused: true });
        return { granted: false, used: this.sum(runId) };
      }
      return { granted: true, used: ahead };
    }
    return { granted: true, used: this.sum(runId, mine) };
  }

  /**
   * Adds what an entity used and releases its booking. `chargeId` (the entity execution's id) makes
   * the charge count once wherever it is retried; without one, every call is a charge of its own.
   */
  async charge(runId: string, used: BudgetTotals, releaseCalls: number, chargeId?: string): Promise<BudgetTotals> {
    const id = safeId(chargeId ?? `anon-${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`);
    // A charge already stored (by a retry elsewhere) is not stored again, as far as the (recent)
    // listing shows; one stored twice in a race still counts once, at the larger record.
    await this.refresh(runId);
    if (!this.records(runId).has(id)) {
      await this.writer(runId).add({ id, calls: used.calls, tokens: used.tokens, ...(used.usd ? { usd: used.usd } : {}) });
      if (!this.storeBooked.delete(`${runId}/${id}`)) this.reserved.set(runId, Math.max(0, (this.reserved.get(runId) ?? 0) - releaseCalls));
    }
    return this.total(runId);
  }
}
