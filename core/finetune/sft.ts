// SFT datasets as the trainer reads them: chat JSONL, one record per line. Validation here mirrors
// trainer/lora/data.py so a bad line fails in the plan activity, before any GPU time, naming the file,
// the line and the field.
import { z } from 'zod';
import { sha256 } from '../util/hash';
import { FinetuneError } from './errors';

const Message = z
  .object({
    role: z.enum(['system', 'user', 'assistant']),
    content: z.string().refine((s) => s.trim() !== '', 'expected non-empty text'),
  })
  .strict();

export const SftRecordSchema = z
  .object({
    messages: z
      .array(Message)
      .min(2, 'expected at least a user and an assistant message')
      .superRefine((msgs, ctx) => {
        msgs.forEach((m, i) => {
          if (m.role === 'system' && i !== 0) ctx.addIssue({ code: 'custom', path: [i, 'role'], message: 'a system message may only come first' });
        });
        const last = msgs[msgs.length - 1];
        if (last && last.role !== 'assistant') {
          ctx.addIssue({ code: 'custom', path: [msgs.length - 1, 'role'], message: `the last message must be the assistant's (the SFT target), got "${last.role}"` });
        }
        if (!msgs.some((m) => m.role === 'user')) ctx.addIssue({ code: 'custom', path: [], message: 'expected a user message' });
      }),
  })
  .strict();
export type SftRecord = z.infer<typeof SftRecordSchema>;

const MAX_REPORTED = 5;

/** Parses chat JSONL; blank lines are skipped. Throws BadDataset listing the first bad lines. */
export function parseSftJsonl(text: string, source: string): SftRecord[] {
  const records: SftRecord[] = [];
  const problems: string[] = [];
  let bad = 0;
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    let problem: string | undefined;
    try {
      value = JSON.parse(line);
    } catch (e) {
      problem = `not valid JSON (${(e as Error).message})`;
    }
    if (!problem) {
      const r = SftRecordSchema.safeParse(value);
      if (r.success) records.push(r.data);
      else {
        const issue = r.error.issues[0]!;
        const field = issue.path.length ? issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '(record)';
        problem = `field "${field}": ${issue.message}`;
      }
    }
    if (problem) {
      bad += 1;
      if (problems.length < MAX_REPORTED) problems.push(`${source}:${i + 1}: ${problem}`);
    }
  });
  if (bad) {
    const more = bad > problems.length ? `\n(and ${bad - problems.length} more bad lines)` : '';
    throw new FinetuneError('BadDataset', `malformed SFT records:\n${problems.join('\n')}${more}`, false);
  }
  return records;
}

export function toJsonl(records: readonly SftRecord[]): string {
  return records.map((r) => JSON.stringify(r)).join('\n') + (records.length ? '\n' : '');
}

export interface MergedDataset {
  jsonl: string;
  records: number;
  /** sha256 of `jsonl`: the dataset part of the job key. */
  hash: string;
  sources: Array<{ source: string; records: number }>;
}

/** D_reason ∪ D_refine for an actor (a concatenation: both losses count every record). */
export function mergeSftDatasets(parts: ReadonlyArray<{ source: string; text: string }>): MergedDataset {
  const all: SftRecord[] = [];
  const sources = parts.map((p) => {
    const recs = parseSftJsonl(p.text, p.source);
    all.push(...recs);
    return { source: p.source, records: recs.length };
  });
  const jsonl = toJsonl(all);
  return { jsonl, records: all.length, hash: sha256(jsonl), sources };
}
