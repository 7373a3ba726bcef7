import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, open, readFile, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArtifactStore, ListPage, ObjectInfo, StoreError } from './types';

const TMP_DIR = '.tmp';

/** Keys are '/'-separated relative paths; no '..', no leading '/', no empty segment. */
export function checkKey(key: string): string {
  const parts = key.split('/');
  if (!key || key.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..') || parts[0] === TMP_DIR) {
    throw new StoreError(`bad artifact key "${key}": expected a relative path like "ingest/ab12/meta.json"`, 'bad_key', key);
  }
  return key;
}

export class LocalStore implements ArtifactStore {
  readonly description: string;
  constructor(readonly root: string) {
    this.description = `local:${root}`;
  }

  private path(key: string): string {
    return join(this.root, ...checkKey(key).split('/'));
  }

  private tmpReady: Promise<unknown> | undefined;

  /**
   * Temp files live inside the store root so rename() never crosses a filesystem. The directory is
   * made once per process (a store written thousands of times a second pays no mkdir per write);
   * `writeTemp` makes it again if someone deleted it meanwhile.
   */
  private async tempPath(): Promise<string> {
    const dir = join(this.root, TMP_DIR);
    this.tmpReady ??= mkdir(dir, { recursive: true }).catch((e: unknown) => {
      this.tmpReady = undefined;
      throw e;
    });
    await this.tmpReady;
    return join(dir, `${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  /** A complete, synced temp file holding `data`. */
  private async writeTemp(data: Uint8Array | string): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      const tmp = await this.tempPath();
      try {
        await writeSynced(tmp, data);
        return tmp;
      } catch (err) {
        await rm(tmp, { force: true });
        // The temp directory was deleted since it was made: make it again, once.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 0) throw err;
        this.tmpReady = undefined;
      }
    }
  }

  /**
   * `place(final)` (rename or link into place), making the parent directory only when it is
   * missing: most keys go to directories that exist, so the common write makes no mkdir call.
   */
  private async intoPlace(final: string, place: (final: string) => Promise<void>): Promise<void> {
    try {
      await place(final);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await mkdir(dirname(final), { recursive: true });
      await place(final);
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.path(key))).isFile();
    } catch {
      return false;
    }
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await readFile(this.path(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new StoreError(`artifact "${key}" not found in ${this.description}`, 'not_found', key);
      }
      throw err;
    }
  }

  async put(key: string, data: Uint8Array | string): Promise<void> {
    const final = this.path(key);
    const tmp = await this.writeTemp(data);
    try {
      await this.intoPlace(final, (f) => rename(tmp, f));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async putFile(key: string, path: string): Promise<void> {
    const final = this.path(key);
    const tmp = await this.tempPath();
    try {
      await pipeline(createReadStream(path), createWriteStream(tmp));
      const fh = await open(tmp, 'r');
      await fh.sync();
      await fh.close();
      await mkdir(dirname(final), { recursive: true });
      await rename(tmp, final);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    // Walk from the prefix's directory part, so "a/b" also finds "a/bc/…" as an S3 listing does.
    const base = prefix.slice(0, prefix.lastIndexOf('/') + 1).replace(/\/$/, '');
    const start = base ? join(this.root, ...base.split('/')) : this.root;
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const p = join(dir, e.name);
        if (e.isDirectory()) {
          if (dir === this.root && e.name === TMP_DIR) continue;
          await walk(p);
        } else if (e.isFile()) out.push(relative(this.root, p).split(sep).join('/'));
      }
    };
    await walk(start);
    return out.filter((k) => k.startsWith(prefix)).sort();
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async localPath(key: string): Promise<string> {
    if (!(await this.exists(key))) throw new StoreError(`artifact "${key}" not found in ${this.description}`, 'not_found', key);
    return this.path(key);
  }

  /** link(2) fails with EEXIST when the name exists, so the complete temp file appears whole or not at all. */
  async putIfAbsent(key: string, data: Uint8Array | string): Promise<boolean> {
    const final = this.path(key);
    const tmp = await this.writeTemp(data);
    try {
      await this.intoPlace(final, (f) => link(tmp, f));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const path = this.path(key);
    let bytes: number;
    try {
      const st = await stat(path);
      if (!st.isFile()) return undefined;
      bytes = st.size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const hash = createHash('sha256');
    await pipeline(createReadStream(path), hash);
    return { bytes, sha256: hash.digest('hex') };
  }

  async getStream(key: string): Promise<Readable> {
    try {
      // Opened before returning so a missing key fails here, not on the consumer's first read.
      return (await open(this.path(key), 'r')).createReadStream();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new StoreError(`artifact "${key}" not found in ${this.description}`, 'not_found', key);
      }
      throw err;
    }
  }

  async listPage(prefix: string, opts: { startAfter?: string; limit?: number } = {}): Promise<ListPage> {
    const limit = opts.limit ?? 1000;
    const after = opts.startAfter;
    const all = await this.list(prefix);
    const from = after === undefined ? 0 : all.findIndex((k) => k > after);
    const keys = from < 0 ? [] : all.slice(from, from + limit);
    const last = keys[keys.length - 1];
    return { keys, next: last !== undefined && from + limit < all.length ? last : undefined };
  }

  async localDir(prefix: string): Promise<string> {
    const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    const { keys } = await this.listPage(`${base}/`, { limit: 1 });
    if (keys.length === 0) throw new StoreError(`no artifacts under "${base}/" in ${this.description}`, 'not_found', prefix);
    return this.path(base);
  }
}

/** Writes `data` to `path` and fsyncs it, so a rename or link that publishes it never shows a torn file. */
async function writeSynced(path: string, data: Uint8Array | string): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
