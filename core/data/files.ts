// Content hashes of raw input files (the ingest key's inputs). Hashing several GB of Amazon data
// takes a while, so a small cache keyed by (path, size, mtime) may remember them.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

export async function sha256File(path: string): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), bytes };
}

type CacheEntries = Record<string, { size: number; mtimeMs: number; sha256: string }>;

/** sha256 of a file, reusing `cachePath`'s entry when the file's size and mtime are unchanged. */
export async function cachedSha256File(path: string, cachePath?: string): Promise<{ sha256: string; bytes: number }> {
  if (!cachePath) return sha256File(path);
  const abs = resolve(path);
  const st = await stat(abs);
  let entries: CacheEntries = {};
  try {
    entries = JSON.parse(await readFile(cachePath, 'utf8')) as CacheEntries;
  } catch {
    entries = {};
  }
  const hit = entries[abs];
  if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return { sha256: hit.sha256, bytes: st.size };
  const r = await sha256File(abs);
  // Re-read before writing so concurrent ingests do not drop each other's entries (last one wins per path).
  try {
    entries = JSON.parse(await readFile(cachePath, 'utf8')) as CacheEntries;
  } catch {
    entries = {};
  }
  entries[abs] = { size: st.size, mtimeMs: st.mtimeMs, sha256: r.sha256 };
  await mkdir(dirname(cachePath), { recursive: true });
  const tmp = `${cachePath}.${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, JSON.stringify(entries));
  await rename(tmp, cachePath);
  return r;
}
