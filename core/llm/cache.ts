// Content-addressed disk cache of successfully parsed answers: a retry, a crashed worker or a rerun
// never repeats a completed call. Key = hash(model, messages, sampling params incl. seed); the base
// URL is left out on purpose, so the same model behind a new port (the simulator) still hits.
// Files are written atomically (temp + rename), so a crash leaves either the old state or the entry.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { hashJson } from '../util/hash';
import type { ChatMessage, SamplingParams, TokenUsage } from './types';

export function requestHash(model: string, messages: readonly ChatMessage[], params: SamplingParams): string {
  return hashJson({
    model,
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    params: { temperature: params.temperature, top_p: params.topP, max_tokens: params.maxTokens, seed: params.seed },
  });
}

const EntrySchema = z.object({
  key: z.string(),
  model: z.string(),
  text: z.string(),
  usage: z.object({ promptTokens: z.number(), completionTokens: z.number() }),
  createdAt: z.string(),
});
export type CacheEntry = z.infer<typeof EntrySchema>;

export class LlmCache {
  hits = 0;
  misses = 0;
  /** Entries that existed but could not be read (counted, then treated as misses). */
  corrupt = 0;

  constructor(readonly dir: string) {}

  private path(key: string): string {
    return join(this.dir, key.slice(0, 2), `${key}.json`);
  }

  /** Reads an entry without counting it (the caller counts once the cached text still parses). */
  async peek(key: string): Promise<CacheEntry | undefined> {
    let raw: string;
    try {
      raw = await readFile(this.path(key), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    try {
      const entry = EntrySchema.parse(JSON.parse(raw));
      return entry.key === key ? entry : undefined;
    } catch {
      this.corrupt++;
      return undefined;
    }
  }

  async put(key: string, model: string, text: string, usage: TokenUsage): Promise<void> {
    const p = this.path(key);
    await mkdir(dirname(p), { recursive: true });
    const tmp = `${p}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const entry: CacheEntry = { key, model, text, usage, createdAt: new Date().toISOString() };
    await writeFile(tmp, JSON.stringify(entry));
    await rename(tmp, p);
  }
}
