// The artifact store: content-keyed, write-once outputs of every stage. The local directory is the
// default; an S3-compatible backend implements the same interface (see README, "Several machines").
import type { Readable } from 'node:stream';
import { R4ecError } from '../errors';

export interface ObjectInfo {
  bytes: number;
  /** Hex sha256 of the object's bytes. */
  sha256: string;
}

export interface ListPage {
  keys: string[];
  /** Pass as `startAfter` for the next page; undefined on the last page. */
  next: string | undefined;
}

export interface ArtifactStore {
  /** Where it lives, for messages (never credentials). */
  readonly description: string;
  exists(key: string): Promise<boolean>;
  get(key: string): Promise<Buffer>;
  /** Atomic: readers see the old object or the complete new one, never a part. */
  put(key: string, data: Uint8Array | string): Promise<void>;
  /** Keys under a prefix ("a/b/" lists "a/b/c", "a/b/d/e"), sorted. */
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
  /**
   * A local file path holding the object, for processes that read files directly (the Python
   * trainer, numpy). For a remote store this is a downloaded cache copy.
   */
  localPath(key: string): Promise<string>;
  /** Uploads a local file atomically under key. */
  putFile(key: string, path: string): Promise<void>;
  /**
   * Creates the object only if nothing exists under key; true when this call created it. Of any
   * number of concurrent creators (processes or machines) exactly one gets true, and readers see
   * the winner's complete bytes. The building block for records that must be written once
   * (bookings, leases) without a read-modify-write of a shared object.
   */
  putIfAbsent(key: string, data: Uint8Array | string): Promise<boolean>;
  /** Size and content hash of an object; undefined when it does not exist. */
  stat(key: string): Promise<ObjectInfo | undefined>;
  /** The object's bytes as a stream, for objects too large to hold in memory. */
  getStream(key: string): Promise<Readable>;
  /**
   * One page of the keys under a prefix, in `list` order, starting after `startAfter`: a listing
   * that stays cheap when a prefix holds millions of keys.
   */
  listPage(prefix: string, opts?: { startAfter?: string; limit?: number }): Promise<ListPage>;
  /**
   * A local directory holding every object under `prefix` at its relative path (a trainer reads a
   * whole adapter or dataset directory). For a remote store this is a cache copy built from the
   * content-hash cache. Fails with `not_found` when nothing is under the prefix.
   */
  localDir(prefix: string): Promise<string>;
}

export type StoreErrorCode =
  | 'not_found'
  | 'bad_key'
  | 'io'
  /** Credentials missing, wrong or without permission: retrying will not help. */
  | 'auth'
  /** The server could not be reached (refused, DNS, timeout): retrying may help. */
  | 'unreachable'
  /** The server lacks a feature the store relies on (conditional writes). */
  | 'unsupported';

/** `io` and `unreachable` are transport (retryable); a missing object, a bad key or bad credentials are not. */
export class StoreError extends R4ecError {
  declare readonly code: StoreErrorCode;
  constructor(
    message: string,
    code: StoreErrorCode,
    readonly key?: string,
  ) {
    super(message, code, { retryable: code === 'io' || code === 'unreachable' });
    this.name = 'StoreError';
  }
}

/**
 * An object's bytes, or undefined when there is none: one GET, no HEAD first, for keys that are
 * usually missing while a stage runs (records, cache entries).
 */
export async function getIfPresent(store: ArtifactStore, key: string): Promise<Buffer | undefined> {
  try {
    return await store.get(key);
  } catch (e) {
    if (e instanceof StoreError && e.code === 'not_found') return undefined;
    throw e;
  }
}
