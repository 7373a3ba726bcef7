// Append-only logs of small records in the artifact store (LLM usage records, call-budget charges)
// that writers on any number of machines share without ever modifying a shared object.
//
// Records are written by group commit: every record appended while the previous write is in flight
// goes into the next object, so a caller still learns only once its record is stored (nothing is
// buffered past the promise it awaits), yet a process that completes hundreds of calls a second
// writes a few objects, not one per record. Each object has a time-ordered random name of its own
// and is written once; readers list the prefix and read every object once.
//
// Object formats, both read: `{ "v": 2, "records": [...] }` (a group, written now) and a bare
// record (one object per record, as written before groups).
import { randomBytes } from 'node:crypto';
import { LocalStore } from './local';
import type { ArtifactStore } from './types';

/** A store of its own (tools, tests) when `target` is a directory, keys at its root; else the shared store under `sharedPrefix`. */
export function storeTarget(target: ArtifactStore | string, prefix: string | undefined, sharedPrefix: string): { store: ArtifactStore; prefix: string } {
  return typeof target === 'string' ? { store: new LocalStore(target), prefix: prefix ?? '' } : { store: target, prefix: prefix ?? sharedPrefix };
}

/** The objects' names: base-36 milliseconds (sorts by time for a century) and 12 random hex digits. */
export function logObjectName(at: number = Date.now()): string {
  return `${at.toString(36).padStart(9, '0')}-${randomBytes(6).toString('hex')}.json`;
}

/** Every key under `prefix` ending in `.json`, in listing order, page by page (cheap on millions of keys). */
export async function listLogKeys(store: ArtifactStore, prefix: string, after?: (key: string) => boolean): Promise<string[]> {
  const keys: string[] = [];
  let startAfter: string | undefined;
  do {
    const page = await store.listPage(prefix, startAfter !== undefined ? { startAfter } : {});
    for (const k of page.keys) if (k.endsWith('.json') && (!after || after(k))) keys.push(k);
    startAfter = page.next;
  } while (startAfter !== undefined);
  return keys;
}

/**
 * The records of one log object: the group's records, or the bare record itself. `parse` checks
 * one record; a bad object throws with the store, key and (for groups) the record's position.
 */
export function logRecords<T>(store: ArtifactStore, key: string, raw: Buffer, parse: (value: unknown, where: string) => T): T[] {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new Error(`${store.description}/${key}: not JSON`);
  }
  const where = `${store.description}/${key}`;
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && Array.isArray((value as { records?: unknown }).records)) {
    return (value as { records: unknown[] }).records.map((r, i) => parse(r, `${where}: records[${i}]`));
  }
  return [parse(value, where)];
}

/** Reads objects `keys` (up to `concurrency` at once) into their records, in the order of `keys`. */
export async function readLogObjects<T>(store: ArtifactStore, keys: readonly string[], parse: (value: unknown, where: string) => T, concurrency = 16): Promise<T[][]> {
  const out = new Array<T[]>(keys.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < keys.length; i = next++) out[i] = logRecords(store, keys[i]!, await store.get(keys[i]!), parse);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, keys.length) }, worker));
  return out;
}

/** The body of a group object. */
export function logGroupBody(records: readonly unknown[]): string {
  return JSON.stringify({ v: 2, records });
}

interface Pending<T> {
  item: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: `add` resolves once `write` has stored a group holding the item. One write at a
 * time; items added meanwhile wait for the next one, at most `maxItems` to a group.
 */
export class GroupCommit<T> {
  private pending: Pending<T>[] = [];
  private running = false;

  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    private readonly maxItems = 1000,
  ) {}

  add(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (!this.running) {
        this.running = true;
        // Let the callers that complete in the same turn of the event loop join the first group.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const group = this.pending.splice(0, this.maxItems);
      try {
        await this.write(group.map((p) => p.item));
        for (const p of group) p.resolve();
      } catch (err) {
        // Every caller of a failed group learns it (its record is not stored) and may retry.
        for (const p of group) p.reject(err);
      }
    }
    this.running = false;
  }
}
