// A trainer's checkpoints mirrored into the artifact store, so a job retried on another machine (or
// after its state dir was deleted) resumes from the newest one instead of step 0. The trainers keep
// writing checkpoints into their local work directory as before (trainer/common/checkpoint.py: one
// file or one directory per checkpoint, renamed into place when complete); the runner uploads each
// one after its `checkpoint` progress line, and before starting a trainer on a work directory that
// lacks it, puts the newest stored one back where the trainer looks.
//
// Layout under the job's prefix:
//   files/<name>[/<file>]    the checkpoint's bytes (a file checkpoint, or a directory's files)
//   index/<order>-<name>.json  written last: { name, order, files: [{ rel, bytes, sha256 }] }
// A checkpoint exists in the store once its index object does, so a crash mid-upload leaves nothing
// that a restore would pick. Only the newest `keep` are kept.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { StoreError, type ArtifactStore } from '../store';

export interface CheckpointStoreOptions {
  store: ArtifactStore;
  /** The job's own key prefix, e.g. `checkpoints/train/<model key>`. */
  prefix: string;
  /** Where the trainer keeps its checkpoints, relative to the work directory ('' = the work directory). */
  dir: string;
  /** Checkpoints kept in the store (default 2, as the trainers keep locally). */
  keep?: number;
}

const IndexSchema = z.object({
  name: z.string().min(1),
  order: z.number().int().nonnegative(),
  files: z.array(z.object({ rel: z.string().min(1), bytes: z.number().int().nonnegative(), sha256: z.string() })),
  at: z.string(),
});
export type StoredCheckpoint = z.infer<typeof IndexSchema>;

const base = (o: CheckpointStoreOptions) => o.prefix.replace(/\/+$/, '');
const indexPrefix = (o: CheckpointStoreOptions) => `${base(o)}/index/`;
const fileKey = (o: CheckpointStoreOptions, rel: string) => `${base(o)}/files/${rel}`;
const indexKey = (o: CheckpointStoreOptions, order: number, name: string) => `${indexPrefix(o)}${String(order).padStart(10, '0')}-${name}.json`;

/** A checkpoint name as the trainers write them: one path segment, no temp or hidden names. */
function checkName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new Error(`checkpoint name "${name}": expected one file or directory name`);
  return name;
}

async function filesOf(path: string): Promise<Array<{ rel: string; path: string }>> {
  const st = await stat(path);
  const name = checkName(basename(path));
  if (st.isFile()) return [{ rel: name, path }];
  const out: Array<{ rel: string; path: string }> = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.push({ rel: `${name}/${relative(path, p).split(sep).join('/')}`, path: p });
    }
  };
  await walk(path);
  return out.sort((a, b) => (a.rel < b.rel ? -1 : 1));
}

async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), bytes };
}

/** Every complete checkpoint in the store, oldest first. */
export async function listStoredCheckpoints(o: CheckpointStoreOptions): Promise<StoredCheckpoint[]> {
  const out: StoredCheckpoint[] = [];
  for (const key of await o.store.list(indexPrefix(o))) {
    try {
      out.push(IndexSchema.parse(JSON.parse((await o.store.get(key)).toString('utf8'))));
    } catch (e) {
      // Pruned between the listing and the read: it was an older one anyway.
      if (e instanceof StoreError && e.code === 'not_found') continue;
      throw new Error(`${o.store.description}/${key}: not a checkpoint index (${(e as Error).message})`);
    }
  }
  return out.sort((a, b) => a.order - b.order);
}

/**
 * Uploads one checkpoint the trainer has completed (a file or a directory), then its index; prunes
 * the store to the newest `keep`. Returns undefined when the checkpoint vanished meanwhile (the
 * trainer keeps only its newest few, and a newer one will follow).
 */
export async function uploadCheckpoint(o: CheckpointStoreOptions, path: string, order: number): Promise<StoredCheckpoint | undefined> {
  let files: Array<{ rel: string; path: string }>;
  const entries: StoredCheckpoint['files'] = [];
  try {
    files = await filesOf(path);
    for (const f of files) {
      const h = await hashFile(f.path);
      await o.store.putFile(fileKey(o, f.rel), f.path);
      entries.push({ rel: f.rel, ...h });
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const index: StoredCheckpoint = { name: checkName(basename(path)), order, files: entries, at: new Date().toISOString() };
  await o.store.put(indexKey(o, order, index.name), JSON.stringify(index));
  const all = await listStoredCheckpoints(o);
  for (const old of all.slice(0, Math.max(0, all.length - (o.keep ?? 2)))) await deleteStored(o, old);
  return index;
}

async function deleteStored(o: CheckpointStoreOptions, c: StoredCheckpoint): Promise<void> {
  // The index first: a checkpoint without all its files must never be listed.
  await o.store.delete(indexKey(o, c.order, c.name));
  for (const f of c.files) await o.store.delete(fileKey(o, f.rel));
}

/** Removes every stored checkpoint of the job (once its output is committed). */
export async function clearStoredCheckpoints(o: CheckpointStoreOptions): Promise<void> {
  for (const c of await listStoredCheckpoints(o)) await deleteStored(o, c);
  for (const key of await o.store.list(`${base(o)}/`)) await o.store.delete(key);
}

/** A stored checkpoint that cannot be restored (a file missing or not the bytes its index names). */
class DamagedCheckpoint extends Error {}

/**
 * Puts the newest stored checkpoint into the work directory when the directory does not have it,
 * complete or not at all (downloaded under a temp name, hash-checked, renamed into place). A damaged
 * one is reported and passed over for the one before it. Returns what was restored, or undefined
 * when the store has none or the work directory has the newest already.
 */
export async function restoreNewestCheckpoint(o: CheckpointStoreOptions, workDir: string, onSkip?: (c: StoredCheckpoint, why: string) => void): Promise<StoredCheckpoint | undefined> {
  const stored = await listStoredCheckpoints(o);
  const dir = resolve(workDir, o.dir);
  for (const c of stored.reverse()) {
    try {
      await stat(join(dir, c.name));
      return undefined;
    } catch {
      // not here: restore it
    }
    try {
      await restoreOne(o, c, dir);
      return c;
    } catch (e) {
      if (!(e instanceof DamagedCheckpoint)) throw e;
      onSkip?.(c, e.message);
    }
  }
  return undefined;
}

async function restoreOne(o: CheckpointStoreOptions, c: StoredCheckpoint, dir: string): Promise<void> {
  // A dotted temp name ending in .tmp: the trainers clean such leftovers up themselves.
  const tmp = join(dir, `.${c.name}.restore-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  const isDir = c.files.some((f) => f.rel.startsWith(`${c.name}/`));
  try {
    for (const f of c.files) {
      const target = isDir ? join(tmp, ...f.rel.slice(c.name.length + 1).split('/')) : tmp;
      await mkdir(dirname(target), { recursive: true });
      const h = createHash('sha256');
      let bytes = 0;
      const tap = new Transform({
        transform(chunk: Buffer, _enc, done) {
          h.update(chunk);
          bytes += chunk.length;
          done(null, chunk);
        },
      });
      let source;
      try {
        source = await o.store.getStream(fileKey(o, f.rel));
      } catch (e) {
        if (e instanceof StoreError && e.code === 'not_found') throw new DamagedCheckpoint(`${f.rel} is missing from the store`);
        throw e;
      }
      await pipeline(source, tap, createWriteStream(target));
      const got = h.digest('hex');
      if (got !== f.sha256 || bytes !== f.bytes) throw new DamagedCheckpoint(`${f.rel} has ${bytes} bytes hashing to ${got}; its index says ${f.bytes} bytes, ${f.sha256}`);
    }
    await rename(tmp, join(dir, c.name));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Follows a trainer's checkpoint lines and uploads each completed checkpoint, one upload at a time
 * and only the newest waiting one (a trainer faster than the store skips intermediate ones, never
 * the last). Upload failures are reported, never thrown: the trainer's own checkpoints still stand.
 */
export class CheckpointUploader {
  private pending: { path: string; order: number } | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  /** The newest checkpoint in the store that this uploader put there. */
  latest: StoredCheckpoint | undefined;
  uploaded = 0;

  constructor(
    private readonly o: CheckpointStoreOptions,
    private readonly onError: (err: Error) => void = () => {},
  ) {}

  offer(path: string, order: number): void {
    if (this.closed) return;
    this.pending = { path, order };
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
  }

  private async drain(): Promise<void> {
    while (this.pending && !this.closed) {
      const next = this.pending;
      this.pending = undefined;
      try {
        const c = await uploadCheckpoint(this.o, next.path, next.order);
        if (c && (!this.latest || c.order >= this.latest.order)) {
          this.latest = c;
          this.uploaded++;
        }
      } catch (e) {
        this.onError(e as Error);
      }
    }
  }

  /** Waits for the upload in progress; `flush` also uploads what is still waiting. */
  async close(flush = true): Promise<void> {
    if (!flush) this.pending = undefined;
    while (this.running) await this.running;
    this.closed = true;
  }
}
