import { z } from 'zod';

export const ChatMessageSchema = z
  .object({
    role: z.enum(['system', 'user', 'assistant']),
    content: z.string(),
  })
  .strict();
export type ChatMessage = z.infer<typeof ChatMessageSchema>;

/** Sampling parameters that change the answer: all of them are part of the cache key. */
export interface SamplingParams {
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number;
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

export const ZERO_USAGE: TokenUsage = { promptTokens: 0, completionTokens: 0 };
