// Sharded, resumable encoding. A plan's texts are cut into fixed-size shards; each finished shard is
// written to the store as one .npy (atomically) before the progress offset moves past it, so a
// killed worker loses at most the shard in flight and a retry re-encodes nothing that finished.
import { decodeNpy, encodeNpy } from '../data/npy';
import type { ArtifactStore } from '../store';

/** What the shard loop needs from an encoder (OnnxEncoder, or a stub in tests). */
export interface TextEncoderLike {
  readonly dim: number;
  encode(texts: readonly string[], opts: { batchSize?: number; maxBatchTokens?: number; onBatch?: () => void }): Promise<Float32Array>;
}

export interface ShardProgress {
  /** Every shard below this one is complete in the store. */
  nextShard: number;
  shards: number;
}

export interface ShardLogEntry {
  shard: number;
  texts: number;
  ms: number;
}

export interface EncodeShardsOptions {
  store: ArtifactStore;
  /** Store prefix of this (set, domain)'s shards, e.g. `encode-work/<hash>/s512/r4ec/user`. */
  prefix: string;
  texts: readonly string[];
  shardSize: number;
  batchSize: number;
  maxBatchTokens?: number;
  encoder: TextEncoderLike;
  /** The heartbeat's offset from an earlier attempt: shards below it are complete and not looked at. */
  startShard?: number;
  /** Called after each completed shard (heartbeat with resume details). */
  onProgress?: (p: ShardProgress) => void;
  /** Called after each model batch (heartbeat only: keeps a long shard alive). */
  onBatch?: () => void;
  /** Called once per shard actually encoded (the per-shard log). */
  onShardEncoded?: (e: ShardLogEntry) => Promise<void> | void;
  signal?: AbortSignal;
}

export interface EncodeShardsResult {
  shards: number;
  /** Shards encoded by this call. */
  encoded: number[];
  /** Shards found complete (from the heartbeat offset or already in the store). */
  reused: number;
}

export function shardCount(texts: number, shardSize: number): number {
  return Math.ceil(texts / shardSize);
}

export function shardKey(prefix: string, shard: number): string {
  return `${prefix}/shard-${String(shard).padStart(6, '0')}.npy`;
}

export async function encodeShards(o: EncodeShardsOptions): Promise<EncodeShardsResult> {
  const shards = shardCount(o.texts.length, o.shardSize);
  const start = Math.min(Math.max(0, Math.floor(o.startShard ?? 0)), shards);
  const encoded: number[] = [];
  let reused = start;
  for (let s = start; s < shards; s++) {
    if (o.signal?.aborted) throw o.signal.reason ?? new Error('cancelled');
    const key = shardKey(o.prefix, s);
    // A shard may be complete beyond the last heartbeat that reached the server (heartbeats are
    // throttled, and the worker can die between the write and the heartbeat).
    if (await o.store.exists(key)) {
      reused++;
      o.onProgress?.({ nextShard: s + 1, shards });
      continue;
    }
    const t0 = Date.now();
    const slice = o.texts.slice(s * o.shardSize, (s + 1) * o.shardSize);
    const vecs = await o.encoder.encode(slice, {
      batchSize: o.batchSize,
      ...(o.maxBatchTokens ? { maxBatchTokens: o.maxBatchTokens } : {}),
      ...(o.onBatch ? { onBatch: o.onBatch } : {}),
    });
    await o.store.put(key, encodeNpy(vecs, [slice.length, o.encoder.dim]));
    encoded.push(s);
    await o.onShardEncoded?.({ shard: s, texts: slice.length, ms: Date.now() - t0 });
    o.onProgress?.({ nextShard: s + 1, shards });
  }
  return { shards, encoded, reused };
}

/** All shards of a (set, domain) as one [texts × dim] matrix; a missing or misshapen shard is an error. */
export async function readShardVectors(store: ArtifactStore, prefix: string, texts: number, shardSize: number, dim: number): Promise<Float32Array> {
  const out = new Float32Array(texts * dim);
  const shards = shardCount(texts, shardSize);
  for (let s = 0; s < shards; s++) {
    const key = shardKey(prefix, s);
    if (!(await store.exists(key))) throw new Error(`encoded shard ${key} is missing from ${store.description}: encode its shards first`);
    const rows = Math.min(shardSize, texts - s * shardSize);
    const npy = decodeNpy(await store.get(key), key);
    if (npy.dtype !== 'float32' || npy.shape[0] !== rows || npy.shape[1] !== dim) {
      throw new Error(`encoded shard ${key} is ${npy.dtype} [${npy.shape.join(', ')}], expected float32 [${rows}, ${dim}]`);
    }
    out.set(npy.data as Float32Array, s * shardSize * dim);
  }
  return out;
}
