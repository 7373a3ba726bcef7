// LLM usage: what a call, an entity, a stage and a run report. `calls` counts requests actually sent;
// a cache hit counts in `cacheHits` and spends no tokens.

export interface LlmUsage {
  calls: number;
  cacheHits: number;
  promptTokens: number;
  completionTokens: number;
}

export function zeroUsage(): LlmUsage {
  return { calls: 0, cacheHits: 0, promptTokens: 0, completionTokens: 0 };
}

/** a + b as a new object; a field b lacks counts 0 (stage summaries carry usage optionally). */
export function addUsage(a: LlmUsage, b: Partial<LlmUsage> | undefined): LlmUsage {
  return {
    calls: a.calls + (b?.calls ?? 0),
    cacheHits: a.cacheHits + (b?.cacheHits ?? 0),
    promptTokens: a.promptTokens + (b?.promptTokens ?? 0),
    completionTokens: a.completionTokens + (b?.completionTokens ?? 0),
  };
}
