// Content-addressed cache of successfully parsed answers, in the artifact store: a retry, a crashed
// worker, a rerun or a worker on another machine never repeats a completed call. Key = hash(model,
// messages, sampling params incl. seed); the base URL is left out on purpose, so the same model
// behind a new port (the simulator) still hits. One object per answer, created with `putIfAbsent`:
// of two workers that complete the same call, the first entry stands and nothing is half-written.
import { z } from 'zod';
import { getIfPresent, type ArtifactStore } from '../store';
import { storeTarget } from '../store/record-log';
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

/** Where the cache lives in the shared store. */
export const LLM_CACHE_PREFIX = 'llm-cache/';

export class LlmCache {
  hits = 0;
  misses = 0;
  /** Entries that existed but could not be read (counted, then treated as misses). */
  corrupt = 0;
  readonly store: ArtifactStore;
  private readonly prefix: string;
  /**
   * Keys this process found an entry under (recently): a later `put` of the same key means the
   * caller rejected that entry (the parser no longer accepts it), so the new answer replaces it.
   */
  private readonly served = new Set<string>();

  /**
   * `target`: the artifact store every worker shares (entries under `llm-cache/`), or a local
   * directory of its own (tests, tools).
   */
  constructor(target: ArtifactStore | string, prefix?: string) {
    ({ store: this.store, prefix: this.prefix } = storeTarget(target, prefix, LLM_CACHE_PREFIX));
  }

  private objectKey(key: string): string {
    if (!/^[A-Za-z0-9_-]+$/.test(key)) throw new Error(`LLM cache key "${key}": expected a request hash`);
    return `${this.prefix}${key.slice(0, 2)}/${key}.json`;
  }

  /** Reads an entry without counting it (the caller counts once the cached text still parses). */
  async peek(key: string): Promise<CacheEntry | undefined> {
    const raw = await getIfPresent(this.store, this.objectKey(key));
    if (!raw) return undefined;
    this.remember(key);
    try {
      const entry = EntrySchema.parse(JSON.parse(raw.toString('utf8')));
      return entry.key === key ? entry : undefined;
    } catch {
      this.corrupt++;
      return undefined;
    }
  }

  private remember(key: string): void {
    this.served.add(key);
    if (this.served.size > 10_000) this.served.delete(this.served.values().next().value!);
  }

  async put(key: string, model: string, text: string, usage: TokenUsage): Promise<void> {
    const objectKey = this.objectKey(key);
    const entry: CacheEntry = { key, model, text, usage, createdAt: new Date().toISOString() };
    const body = JSON.stringify(entry);
    if (await this.store.putIfAbsent(objectKey, body)) return;
    // The entry exists. Another worker completed the same request first: its answer stands. Or this
    // caller was served that entry and rejected it (unreadable, or the parser no longer accepts it):
    // then the new answer replaces it.
    if (this.served.delete(key)) await this.store.put(objectKey, body);
  }
}
