// Fine-tuning records in chat format (system / user / assistant), as the finetune stage trains them:
// the user turn is always the inference-variant prompt (no target item); the actor's assistant turn
// is the bare knowledge text (as in the authors' data); the reflection model's is
// `<Final Judgement>…</Final Judgement>\n<Reflection>…</Reflection>`. Text from answers is
// neutralised like any data in a prompt: a model must not learn to emit our tags or a chat
// template's special tokens inside its knowledge.
import { z } from 'zod';
import type { Domain } from '../../config/names';
import { ChatMessageSchema, type ChatMessage } from '../llm/types';
import { buildPrompt, neutralizeTags, PromptSpecError, type PromptSpec } from './builders';
import { judgementStrings, tags, type Medium } from './tags';

export const SftRecordSchema = z
  .object({
    messages: z.tuple([
      ChatMessageSchema.extend({ role: z.literal('system') }),
      ChatMessageSchema.extend({ role: z.literal('user') }),
      ChatMessageSchema.extend({ role: z.literal('assistant'), content: z.string().min(1) }),
    ]),
  })
  .strict();
export type SftRecord = z.infer<typeof SftRecordSchema>;

/** The reflection text is neutralised: it cannot close its own section or end the turn. */
export function formatJudgementAnswer(domain: Domain, medium: Medium, reasonable: boolean, reflection: string): string {
  const t = tags(medium);
  const j = judgementStrings(domain, medium);
  return `<${t.judgement}>${reasonable ? j.reasonable : j.unreasonable}</${t.judgement}>\n<${t.reflection}>${reasonable ? '' : neutralizeTags(reflection.trim())}</${t.reflection}>`;
}

function inferencePrompt(spec: PromptSpec, steps: PromptSpec['step'][]): ChatMessage[] {
  if (spec.variant !== 'inference') throw new PromptSpecError('fine-tuning records use the inference-variant prompt (no target item)');
  if (!steps.includes(spec.step)) throw new PromptSpecError(`a ${steps.join('/')} record cannot use a ${spec.step} prompt`);
  return buildPrompt(spec);
}

function record(prompt: ChatMessage[], assistant: string): SftRecord {
  return SftRecordSchema.parse({ messages: [...prompt, { role: 'assistant', content: assistant }] });
}

/** D_reason (reason prompt) and D_refine (refine prompt) records: the assistant turn is the bare knowledge. */
export function actorSftRecord(spec: PromptSpec, knowledge: string): SftRecord {
  if (knowledge.trim() === '') throw new PromptSpecError('an actor record needs knowledge text');
  return record(inferencePrompt(spec, ['reason', 'refine']), neutralizeTags(knowledge.trim()));
}

/** D_reflect records: judgement plus reflection ('' when reasonable). */
export function reflectionSftRecord(spec: PromptSpec, answer: { reasonable: boolean; reflection: string }): SftRecord {
  if (!answer.reasonable && answer.reflection.trim() === '') throw new PromptSpecError('a "not reasonable" record needs a reflection');
  return record(inferencePrompt(spec, ['reflect']), formatJudgementAnswer(spec.domain, spec.medium, answer.reasonable, answer.reflection));
}
