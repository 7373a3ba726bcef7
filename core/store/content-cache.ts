// A local cache of remote objects keyed by their content, so a worker downloads each distinct
// input once, however many keys or runs name it, and deleting the cache loses nothing.
// Layout: <root>/objects/<id[0:2]>/<id>/<name> (the object's own file name is kept because some
// readers dispatch on the extension) and <root>/dirs/<id>/... for whole prefixes.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { link, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export class ContentCache {
  constructor(readonly root: string) {}

  objectPath(id: string, name: string): string {
    return join(this.root, 'objects', id.slice(0, 2), id, name);
  }

  dirPath(id: string): string {
    return join(this.root, 'dirs', id);
  }

  async has(path: string): Promise<boolean> {
    try {
      const st = await stat(path);
      return st.isFile() || st.isDirectory();
    } catch {
      return false;
    }
  }

  /** Temp names live inside the cache root so the final rename never crosses a filesystem. */
  private async tempPath(): Promise<string> {
    const dir = join(this.root, '.tmp');
    await mkdir(dir, { recursive: true });
    return join(dir, `${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  /**
   * Streams `source` into the cache under (id, name). When `sha256` is given the bytes are checked
   * against it and a mismatch leaves nothing behind: a cached file is always the object it claims.
   */
  async fill(id: string, name: string, source: Readable, expect: { sha256?: string; bytes?: number }): Promise<string> {
    const final = this.objectPath(id, name);
    const tmp = await this.tempPath();
    const hash = createHash('sha256');
    let bytes = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    try {
      await pipeline(source, tap, createWriteStream(tmp));
      const got = hash.digest('hex');
      if (expect.sha256 !== undefined && got !== expect.sha256) {
        throw new Error(`downloaded ${bytes} bytes hash to ${got}, expected ${expect.sha256}: the object changed or the transfer was corrupted`);
      }
      if (expect.bytes !== undefined && bytes !== expect.bytes) {
        throw new Error(`downloaded ${bytes} bytes, expected ${expect.bytes}: the transfer was cut short`);
      }
      await mkdir(dirname(final), { recursive: true });
      // Two workers filling the same id write identical bytes, so the later rename is harmless.
      await rename(tmp, final);
      return final;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /**
   * Builds <root>/dirs/<id> from already-cached files (hard links, no copies) and publishes it with
   * one rename, so a reader never sees a half-built directory.
   */
  async assembleDir(id: string, files: Array<{ rel: string; path: string }>): Promise<string> {
    const final = this.dirPath(id);
    if (await this.has(final)) return final;
    const tmp = await this.tempPath();
    try {
      for (const f of files) {
        const target = join(tmp, ...f.rel.split('/'));
        await mkdir(dirname(target), { recursive: true });
        await link(f.path, target);
      }
      await mkdir(dirname(final), { recursive: true });
      try {
        await rename(tmp, final);
      } catch (err) {
        // Another process published the same directory first: theirs is identical.
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      }
      return final;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
}
