// The batch path's round loop in one process, for scripts, benches and tests: answer from the cache,
// send the rest as batches, wait for them, collect, and repeat with the re-asks and resubmissions
// until every item is settled. A stage that must survive restarts runs the same steps as
// activities with durable timers between polls; this loop is their reference order.
import { addUsage, zeroUsage, type LlmUsage } from '../rules/usage';
import type { BatchItem, BatchScope } from './batch-files';
import type { BatchClient, BatchHandling, BatchInfo, BatchItemResult, LookupOptions } from './batch';
import { abortableSleep } from './limiter';

export type SettledBatchResult<T> = Exclude<BatchItemResult<T>, { status: 'retry' }>;

export interface BatchRoundReport<T> {
  round: number;
  /** Requests sent in this round's batches (after de-duplication and cache hits). */
  sent: number;
  batches: BatchInfo[];
  results: BatchItemResult<T>[];
}

export interface BatchRunOptions<T> {
  scope: Omit<BatchScope, 'round'>;
  handling: BatchHandling<T>;
  pollIntervalMs: number;
  lookup?: LookupOptions;
  onRound?: (r: BatchRoundReport<T>) => void;
  signal?: AbortSignal;
}

/** Settles every item; the result's usage sums all its rounds. */
export async function runBatchRounds<T>(bc: BatchClient, items: readonly BatchItem[], opts: BatchRunOptions<T>): Promise<Map<string, SettledBatchResult<T>>> {
  const ids = new Set<string>();
  for (const i of items) {
    if (ids.has(i.id)) throw new Error(`batch item id "${i.id}" appears twice: ids must be unique within a round`);
    ids.add(i.id);
  }
  const settled = new Map<string, SettledBatchResult<T>>();
  const spent = new Map<string, LlmUsage>();
  const settle = (r: BatchItemResult<T>): BatchItem | undefined => {
    const total = addUsage(spent.get(r.id) ?? zeroUsage(), r.usage);
    spent.set(r.id, total);
    if (r.status === 'retry') return r.item;
    settled.set(r.id, { ...r, usage: total });
    return undefined;
  };
  // Every round settles an item or spends one of its format or transport attempts, so this ends.
  const maxRounds = opts.handling.formatRetries + opts.handling.transportAttempts + 1;
  let pending: BatchItem[] = [...items];
  for (let round = 1; pending.length > 0; round++) {
    if (round > maxRounds) throw new Error(`batch rounds did not settle ${pending.length} items after ${maxRounds} rounds`);
    const { done, pending: toSend } = await bc.fromCache(pending, opts.handling);
    for (const r of done) settle(r);
    if (toSend.length === 0) {
      opts.onRound?.({ round, sent: 0, batches: [], results: done });
      break;
    }
    const files = bc.plan(toSend);
    let batches = await Promise.all(files.map(async (f) => (await bc.submit({ ...opts.scope, round }, f, opts.lookup)).batch));
    while (!batches.every((b) => b.terminal)) {
      await abortableSleep(opts.pollIntervalMs, opts.signal);
      batches = await Promise.all(batches.map((b) => (b.terminal ? b : bc.poll(b.id))));
    }
    const next: BatchItem[] = [];
    const results: BatchItemResult<T>[] = [...done];
    for (const [i, f] of files.entries()) {
      const inFile = new Set(f.customIds);
      const mine = toSend.filter((it) => inFile.has(bc.resolve(it).hash));
      for (const r of await bc.collect(batches[i]!, mine, opts.handling)) {
        results.push(r);
        const again = settle(r);
        if (again) next.push(again);
      }
    }
    opts.onRound?.({ round, sent: files.reduce((a, f) => a + f.customIds.length, 0), batches, results });
    pending = next;
  }
  return settled;
}
