// A job's work directory as the runner and the trainer share it: the spec, the progress lines (the
// trainer's stdout, appended across launches), its stderr, and the pid file the trainer writes under
// its work-directory lock (trainer/common/process.py), by which a later attempt finds it again.
import { open, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseJobEvent, type JobEvent } from './events';

export const JOB_FILES = {
  spec: 'spec.json',
  progress: 'progress.jsonl',
  log: 'trainer.log',
  pid: 'trainer.pid',
} as const;

export function jobFiles(workDir: string): Record<keyof typeof JOB_FILES, string> {
  return {
    spec: join(workDir, JOB_FILES.spec),
    progress: join(workDir, JOB_FILES.progress),
    log: join(workDir, JOB_FILES.log),
    pid: join(workDir, JOB_FILES.pid),
  };
}

export async function readPidFile(path: string): Promise<number | undefined> {
  try {
    const v = JSON.parse(await readFile(path, 'utf8')) as { pid?: unknown };
    return typeof v.pid === 'number' ? v.pid : undefined;
  } catch {
    return undefined;
  }
}

export async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/** The last `n` lines of a file (reads at most its last 64 KiB). */
export async function tailLines(path: string, n: number): Promise<string[]> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return [];
  }
  try {
    const size = (await fh.stat()).size;
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    return buf
      .toString('utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-n);
  } finally {
    await fh.close();
  }
}

/** Reads the progress lines appended since the last call (a partial last line waits for its end). */
export class ProgressReader {
  private offset = 0;
  private partial = '';
  constructor(private readonly path: string) {}

  async read(): Promise<JobEvent[]> {
    let fh;
    try {
      fh = await open(this.path, 'r');
    } catch {
      return [];
    }
    try {
      const size = (await fh.stat()).size;
      if (size <= this.offset) return [];
      const buf = Buffer.alloc(size - this.offset);
      await fh.read(buf, 0, buf.length, this.offset);
      this.offset = size;
      const lines = (this.partial + buf.toString('utf8')).split('\n');
      this.partial = lines.pop() ?? '';
      // Anything else on stdout is not progress (the trainers route library prints to stderr).
      return lines.map(parseJobEvent).filter((e): e is JobEvent => e !== undefined);
    } finally {
      await fh.close();
    }
  }
}
