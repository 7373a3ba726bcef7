// The body of a chat-completion request, built in one place: the synchronous client sends it and
// the batch client writes it as a JSONL line, so both paths send exactly the same request (and so
// share one cache key, `requestHash`).
import type { ChatMessage, SamplingParams } from './types';

export interface ChatCompletionBody {
  model: string;
  messages: ChatMessage[];
  temperature: number;
  top_p: number;
  max_tokens: number;
  seed: number;
}

export function chatCompletionBody(model: string, messages: readonly ChatMessage[], params: SamplingParams): ChatCompletionBody {
  return {
    model,
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    temperature: params.temperature,
    top_p: params.topP,
    max_tokens: params.maxTokens,
    seed: params.seed,
  };
}

/** The conversation of a format re-ask: the unparsable answer, then the correction turn. */
export function reaskMessages(messages: readonly ChatMessage[], answer: string, correction: string): ChatMessage[] {
  return [...messages, { role: 'assistant', content: answer }, { role: 'user', content: correction }];
}
