// Streams a text file line by line as raw bytes (so each loader decodes with its own encoding),
// gunzipping when the file starts with the gzip magic. Never holds a whole file in memory.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { createGunzip } from 'node:zlib';
import { DataError } from './errors';

export async function isGzip(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await fh.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

export interface LineReadOptions {
  /** Name used in errors (default: the file's base name). */
  displayName?: string;
  /** Called every `progressEvery` lines (heartbeats). */
  onProgress?: (line: number) => void;
  progressEvery?: number;
}

/**
 * Calls `onLine(bytes, lineNo)` for every non-empty line (1-based numbers count empty lines too;
 * a trailing '\r' is dropped). A truncated or corrupt gzip stream becomes a DataError naming the
 * line where the data stopped.
 */
export async function forEachLine(
  path: string,
  onLine: (line: Buffer, lineNo: number) => void,
  opts: LineReadOptions = {},
): Promise<number> {
  const name = opts.displayName ?? basename(path);
  const gz = await isGzip(path);
  if (!gz && path.endsWith('.gz')) throw new DataError(name, 0, 'file', 'a gzip-compressed file (name ends in .gz)', 'no gzip header');
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  const stream = gz ? raw.pipe(createGunzip()) : raw;
  if (gz) raw.on('error', (e) => stream.destroy(e));
  const every = opts.progressEvery ?? 100_000;
  let lineNo = 0;
  let rest: Buffer | null = null;
  const emit = (buf: Buffer) => {
    lineNo++;
    let end = buf.length;
    if (end > 0 && buf[end - 1] === 0x0d) end--;
    if (end > 0) onLine(end === buf.length ? buf : buf.subarray(0, end), lineNo);
    if (opts.onProgress && lineNo % every === 0) opts.onProgress(lineNo);
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let start = 0;
      let nl = chunk.indexOf(0x0a, start);
      if (nl >= 0 && rest) {
        emit(Buffer.concat([rest, chunk.subarray(0, nl)]));
        rest = null;
        start = nl + 1;
        nl = chunk.indexOf(0x0a, start);
      }
      while (nl >= 0) {
        emit(chunk.subarray(start, nl));
        start = nl + 1;
        nl = chunk.indexOf(0x0a, start);
      }
      if (start < chunk.length) rest = rest ? Buffer.concat([rest, chunk.subarray(start)]) : Buffer.from(chunk.subarray(start));
    }
  } catch (err) {
    if (err instanceof DataError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (gz && (code.startsWith('Z_') || /unexpected end of file|incorrect header|invalid/i.test(String(err)))) {
      throw new DataError(name, lineNo + 1, 'gzip', 'a complete gzip stream', `${code || 'error'}: ${(err as Error).message}`);
    }
    throw err;
  }
  if (rest) emit(rest);
  return lineNo;
}
