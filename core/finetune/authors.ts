// The authors' released D_refine sample (`amz_user_refine.json`: [{user_id, prompt, answer}]) as our
// SFT records: their prompt is the whole inference-variant refine instruction, so it becomes the user
// turn; the answer (bare refined preference text) is the assistant turn, as in DESIGN.md.
import { z } from 'zod';
import { neutralizeSpecialTokens } from '../prompts/special-tokens';
import { FinetuneError } from './errors';
import { SftRecordSchema, type SftRecord } from './sft';

/** The actor's system prompt (same wording as core/prompts' actor prompts). */
export const AUTHORS_SYSTEM_PROMPT = 'You are an experienced analyst for a recommender system.';

const AuthorsRecord = z
  .object({
    user_id: z.union([z.string().min(1), z.number().int()]),
    prompt: z.string().refine((s) => s.trim() !== '', 'expected non-empty text'),
    answer: z.string().refine((s) => s.trim() !== '', 'expected non-empty text'),
  })
  .passthrough();

export function convertAuthorsRefine(raw: unknown, source: string, system: string = AUTHORS_SYSTEM_PROMPT): SftRecord[] {
  if (!Array.isArray(raw)) throw new FinetuneError('BadDataset', `${source}: expected a JSON array of {user_id, prompt, answer}`, false);
  return raw.map((item, i) => {
    const r = AuthorsRecord.safeParse(item);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new FinetuneError('BadDataset', `${source}: record [${i}] field "${issue.path.join('.') || '(record)'}": ${issue.message}`, false);
    }
    return SftRecordSchema.parse({
      messages: [
        { role: 'system', content: system },
        // Their text holds our tags on purpose; a chat template's special tokens it must not.
        { role: 'user', content: neutralizeSpecialTokens(r.data.prompt.trim()) },
        { role: 'assistant', content: neutralizeSpecialTokens(r.data.answer.trim()) },
      ],
    });
  });
}
