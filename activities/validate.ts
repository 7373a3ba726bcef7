import { ApplicationFailure } from '@temporalio/activity';
import type { z } from 'zod';

/**
 * Every activity validates its one input object here: a payload that does not match is a bug or a
 * hand-made start with bad input, never worth a retry.
 */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown, activity: string): z.infer<S> {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ');
  throw ApplicationFailure.nonRetryable(`${activity}: invalid input: ${problems}`, 'InvalidActivityInput');
}
