// The artifact store: content-keyed, write-once outputs of every stage. The local directory is the
// default; an S3-compatible backend implements the same interface (see README, "Several machines").
import { R4ecError } from '../errors';

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
}

/** `io` is transport (retryable); a missing object or a bad key is not. */
export class StoreError extends R4ecError {
  declare readonly code: 'not_found' | 'bad_key' | 'io';
  constructor(
    message: string,
    code: 'not_found' | 'bad_key' | 'io',
    readonly key?: string,
  ) {
    super(message, code, { retryable: code === 'io' });
    this.name = 'StoreError';
  }
}
