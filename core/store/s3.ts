// The artifact store on any S3-compatible server (AWS S3, versitygw, Ceph RGW, R2, ...), with the
// local store's guarantees: an object appears under its key only complete (a single PUT, or a
// multipart upload that is invisible until CompleteMultipartUpload), every object carries its
// sha256 as metadata (so a local copy is cached by content), and `putIfAbsent` is a conditional
// create (`If-None-Match: *`). Credentials come only from the standard AWS chain (environment,
// shared profile, SSO, web identity, container/instance role): never from config or payloads.
import { createHash, randomUUID } from 'node:crypto';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { sha256 } from '../util/hash';
import { ContentCache } from './content-cache';
import { checkKey } from './local';
import { s3Failure, s3Status } from './s3-errors';
import { MIN_PART, uploadFile } from './s3-upload';
import { ArtifactStore, ListPage, ObjectInfo, StoreError } from './types';

/** User metadata (x-amz-meta-sha256) holding the object's content hash. */
const HASH_META = 'sha256';
/** Keys the store writes for itself (the conditional-write probe); never listed. */
const PROBE_PREFIX = '_r4ec-probe/';
const MiB = 1024 * 1024;

export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket ("team/r4ec/"); '' for the bucket's root. */
  prefix?: string;
  /** Any S3-compatible server's URL; absent = AWS S3 in `region`. */
  endpoint?: string;
  region: string;
  /** Path-style URLs (http://host/bucket/key), which most self-hosted servers need. */
  forcePathStyle?: boolean;
  /** Where local copies of objects are cached by content hash (a cache: deletable at any time). */
  cacheDir: string;
  /** Multipart part size; files up to this size go in one PUT. */
  partSizeMiB?: number;
  /** Parts uploaded at once; memory held is about partSize × concurrency. */
  concurrency?: number;
  /** For code that has credentials of its own (tests); configs never carry credentials. */
  credentials?: S3ClientConfig['credentials'];
}

export class S3Store implements ArtifactStore {
  readonly description: string;
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly partSize: number;
  private readonly concurrency: number;
  private readonly cache: ContentCache;
  private conditionalChecked: Promise<void> | undefined;
  private accessChecked: Promise<void> | undefined;

  constructor(readonly options: S3StoreOptions) {
    this.bucket = options.bucket;
    this.prefix = normalizePrefix(options.prefix ?? '');
    this.partSize = Math.max(MIN_PART, Math.round((options.partSizeMiB ?? 8) * MiB));
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.cache = new ContentCache(options.cacheDir);
    this.description = `s3://${this.bucket}/${this.prefix} at ${options.endpoint ?? `AWS S3 (${options.region})`}`;
    this.client = new S3Client({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
      ...(options.credentials ? { credentials: options.credentials } : {}),
      // Newer SDKs add CRC checksums to every request by default; several S3-compatible servers
      // reject or ignore them, and the store checks content by its own sha256 anyway.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: 5_000, httpAgent: { keepAlive: true, maxSockets: 64 } },
    });
  }

  private objectKey(key: string): string {
    return this.prefix + checkKey(key);
  }

  private fail(err: unknown, op: string, key?: string): StoreError {
    return s3Failure(err, { op, key, description: this.description, bucket: this.bucket, endpoint: this.options.endpoint ?? `AWS S3 (${this.options.region})` });
  }

  private async head(key: string): Promise<{ bytes: number; sha256: string | undefined; etag: string } | undefined> {
    try {
      const h = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return { bytes: h.ContentLength ?? 0, sha256: h.Metadata?.[HASH_META], etag: h.ETag ?? '' };
    } catch (err) {
      if (err instanceof StoreError) throw err;
      if (s3Status(err) === 404) {
        await this.checkAccess();
        return undefined;
      }
      throw this.fail(err, 'head', key);
    }
  }

  /**
   * A HEAD answer has no body, so a 404 can also mean a missing bucket, or (on some servers) an
   * unknown access key. Before the first "missing" is believed, one LIST shows which it is:
   * a finished stage must never look absent because the credentials are wrong.
   */
  private checkAccess(): Promise<void> {
    this.accessChecked ??= this.client
      .send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, MaxKeys: 1 }))
      .then(() => undefined)
      .catch((err: unknown) => {
        this.accessChecked = undefined;
        throw this.fail(err, 'access check');
      });
    return this.accessChecked;
  }

  async exists(key: string): Promise<boolean> {
    // A refused or unreachable server throws: "missing" would make a finished stage run again.
    return (await this.head(key)) !== undefined;
  }

  /** The object's body; SDK errors unmapped (callers look at the status). */
  private async openObject(key: string, ifMatch?: string): Promise<Readable> {
    const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), ...(ifMatch ? { IfMatch: ifMatch } : {}) }));
    return r.Body as Readable;
  }

  async getStream(key: string): Promise<Readable> {
    try {
      return await this.openObject(key);
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw this.fail(err, 'get', key);
    }
  }

  async get(key: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of await this.getStream(key)) chunks.push(chunk as Buffer);
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw this.fail(err, 'get', key);
    }
    return Buffer.concat(chunks);
  }

  async put(key: string, data: Uint8Array | string): Promise<void> {
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Body: body, ContentLength: body.byteLength, Metadata: { [HASH_META]: sha256(body) } }));
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw this.fail(err, 'put', key);
    }
  }

  async putFile(key: string, path: string): Promise<void> {
    const objectKey = this.objectKey(key);
    try {
      await uploadFile(this.client, { bucket: this.bucket, key: objectKey, path, partSize: this.partSize, concurrency: this.concurrency, hashMeta: HASH_META });
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw this.fail(err, 'putFile', key);
    }
  }

  async putIfAbsent(key: string, data: Uint8Array | string): Promise<boolean> {
    const objectKey = this.objectKey(key);
    await this.checkConditionalWrites();
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: objectKey, Body: body, ContentLength: body.byteLength, Metadata: { [HASH_META]: sha256(body) }, IfNoneMatch: '*' }));
        return true;
      } catch (err) {
        const status = s3Status(err);
        if (status === 412) return false;
        // 409 ConditionalRequestConflict: another conditional write to this key was in flight;
        // asked again, the server answers 412 if that one won.
        if (status === 409 && attempt < 6) {
          await new Promise((r) => setTimeout(r, 20 * 2 ** attempt));
          continue;
        }
        throw this.fail(err, 'putIfAbsent', key);
      }
    }
  }

  /**
   * Some S3-compatible servers accept `If-None-Match: *` and ignore it, which would turn every
   * conditional create into an overwrite. Checked once per store on a scratch key: the second
   * create must be refused, or the store refuses to pretend.
   */
  private checkConditionalWrites(): Promise<void> {
    this.conditionalChecked ??= (async () => {
      const probe = `${this.prefix}${PROBE_PREFIX}${randomUUID()}`;
      const create = () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: probe, Body: 'probe', IfNoneMatch: '*' }));
      try {
        await create();
        let enforced = false;
        try {
          await create();
        } catch (err) {
          if (s3Status(err) !== 412) throw err;
          enforced = true;
        }
        if (!enforced) {
          throw new StoreError(
            `the S3 server of ${this.description} ignores conditional writes (If-None-Match: *), which the store needs for write-once records; ` +
              'use a server that supports them (AWS S3, versitygw with metadata enabled, recent MinIO/Ceph), or a shared local directory (store: { kind: local, path })',
            'unsupported',
          );
        }
      } catch (err) {
        if (err instanceof StoreError) throw err;
        if (s3Status(err) === 501) throw new StoreError(`the S3 server of ${this.description} does not implement conditional writes (If-None-Match: *)`, 'unsupported');
        throw this.fail(err, 'conditional-write check');
      } finally {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: probe })).catch(() => undefined);
      }
    })().catch((err: unknown) => {
      this.conditionalChecked = undefined;
      throw err;
    });
    return this.conditionalChecked;
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let startAfter: string | undefined;
    do {
      const page = await this.listPage(prefix, { ...(startAfter !== undefined ? { startAfter } : {}), limit: 1000 });
      out.push(...page.keys);
      startAfter = page.next;
    } while (startAfter !== undefined);
    return out;
  }

  async listPage(prefix: string, opts: { startAfter?: string; limit?: number } = {}): Promise<ListPage> {
    const limit = Math.max(1, opts.limit ?? 1000);
    const keys: string[] = [];
    let token: string | undefined;
    try {
      for (;;) {
        const r = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            MaxKeys: Math.min(1000, limit - keys.length),
            ...(token ? { ContinuationToken: token } : opts.startAfter !== undefined ? { StartAfter: this.prefix + opts.startAfter } : {}),
          }),
        );
        for (const o of r.Contents ?? []) {
          const key = (o.Key ?? '').slice(this.prefix.length);
          if (key && !key.endsWith('/') && !key.startsWith(PROBE_PREFIX)) keys.push(key);
        }
        const more = r.IsTruncated === true && r.NextContinuationToken !== undefined;
        if (!more) return { keys, next: undefined };
        if (keys.length >= limit) return { keys, next: keys[keys.length - 1] };
        token = r.NextContinuationToken;
      }
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw this.fail(err, 'list', prefix);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
    } catch (err) {
      if (s3Status(err) === 404) return;
      throw this.fail(err, 'delete', key);
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const h = await this.head(key);
    if (!h) return undefined;
    if (h.sha256) return { bytes: h.bytes, sha256: h.sha256 };
    // Written by another tool: no stored hash, so read it once.
    const hash = createHash('sha256');
    try {
      await pipeline(await this.openObject(key, h.etag || undefined), hash);
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw this.fail(err, 'stat', key);
    }
    return { bytes: h.bytes, sha256: hash.digest('hex') };
  }

  /** A cached copy named by content; downloaded (streaming, hash-checked) only when not cached yet. */
  async localPath(key: string): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      const h = await this.head(key);
      if (!h) throw new StoreError(`artifact "${key}" not found in ${this.description}`, 'not_found', key);
      const id = cacheId(this.bucket, this.objectKey(key), h);
      const name = posix.basename(key);
      const cached = this.cache.objectPath(id, name);
      if (await this.cache.has(cached)) return cached;
      try {
        // If-Match: the bytes must be the version whose hash named the cache entry.
        return await this.cache.fill(id, name, await this.openObject(key, h.etag || undefined), { ...(h.sha256 ? { sha256: h.sha256 } : {}), bytes: h.bytes });
      } catch (err) {
        // 412: overwritten between the HEAD and the GET; look again.
        if (s3Status(err) === 412 && attempt < 2) continue;
        if (err instanceof StoreError) throw err;
        throw this.fail(err, 'download', key);
      }
    }
  }

  async localDir(prefix: string): Promise<string> {
    const base = prefix.endsWith('/') ? prefix : `${prefix}/`;
    const entries: Array<{ key: string; etag: string; bytes: number }> = [];
    let token: string | undefined;
    try {
      do {
        const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + base, ...(token ? { ContinuationToken: token } : {}) }));
        for (const o of r.Contents ?? []) {
          const key = (o.Key ?? '').slice(this.prefix.length);
          if (key && !key.endsWith('/')) entries.push({ key, etag: o.ETag ?? '', bytes: o.Size ?? 0 });
        }
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw this.fail(err, 'list', base);
    }
    if (entries.length === 0) throw new StoreError(`no artifacts under "${base}" in ${this.description}`, 'not_found', prefix);
    // The listing's ETags identify the versions, so an unchanged prefix is one LIST away from its copy.
    const id = sha256(JSON.stringify([this.bucket, this.prefix + base, entries]));
    const dir = this.cache.dirPath(id);
    if (await this.cache.has(dir)) return dir;
    const files: Array<{ rel: string; path: string }> = [];
    for (const e of entries) files.push({ rel: e.key.slice(base.length), path: await this.localPath(e.key) });
    return this.cache.assembleDir(id, files);
  }
}

function normalizePrefix(prefix: string): string {
  const p = prefix.replace(/^\/+/, '');
  return p === '' || p.endsWith('/') ? p : `${p}/`;
}

/** The content hash when the object carries one, else its identity (key + ETag) for foreign objects. */
function cacheId(bucket: string, objectKey: string, h: { sha256: string | undefined; etag: string }): string {
  return h.sha256 ?? `e${sha256(`${bucket}\n${objectKey}\n${h.etag}`)}`;
}
