import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ArtifactStore, StoreError } from './types';

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

  /** Temp files live inside the store root so rename() never crosses a filesystem. */
  private async tempPath(): Promise<string> {
    const dir = join(this.root, TMP_DIR);
    await mkdir(dir, { recursive: true });
    return join(dir, `${process.pid}-${randomBytes(8).toString('hex')}`);
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
    const tmp = await this.tempPath();
    try {
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await mkdir(dirname(final), { recursive: true });
      await rename(tmp, final);
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
    const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
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
}
