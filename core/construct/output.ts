// The construct stage's output (one per domain, key `construct/<hash>`), the contract with finetune:
//   reason.jsonl, reflect.jsonl, refine.jsonl  D_reason / D_reflect / D_refine: one SftRecord per
//                                              line ({ messages: [system, user, assistant] }).
//   manifest.jsonl                             one line per inference: ids, outcome, reason, usage,
//                                              the interactions its prompts showed, which records it
//                                              added (line numbers in the files).
//   report.json                                ConstructReport below.
import { z } from 'zod';
import { CONSTRUCT_OUTCOMES, type ConstructOutcome } from '../../config/names';
import { LlmUsageSchema } from '../llm/usage';
import { SftRecordSchema } from '../prompts/sft';
import { addUsage, zeroUsage, type LlmUsage } from '../rules/usage';
import { DATASET_NAMES, type InferenceRecord } from './records';
import { ConstructSampleSchema } from './sample';

export const DATASET_FILES = { reason: 'reason.jsonl', reflect: 'reflect.jsonl', refine: 'refine.jsonl' } as const;
export const MANIFEST_FILE = 'manifest.jsonl';
export const REPORT_FILE = 'report.json';

export const ManifestLineSchema = z
  .object({
    workflowId: z.string(),
    entityId: z.string(),
    index: z.number().int(),
    k: z.number().int(),
    seed: z.number().int(),
    outcome: z.enum(CONSTRUCT_OUTCOMES),
    reason: z.string(),
    label: z.boolean(),
    usage: LlmUsageSchema,
    /** Which interactions (user index, 0-based positions) the prompts showed: all in training parts. */
    provenance: ConstructSampleSchema.shape.provenance,
    /** 1-based line numbers of this inference's records in each dataset file. */
    lines: z.object({ reason: z.array(z.number().int()), reflect: z.array(z.number().int()), refine: z.array(z.number().int()) }),
  })
  .strict();
export type ManifestLine = z.infer<typeof ManifestLineSchema>;

export const ConstructReportSchema = z
  .object({
    domain: z.enum(['user', 'item']),
    datasetKey: z.string(),
    /** Entities of the domain's entity set, those with a usable training sample, and those sampled. */
    entities: z.number().int(),
    eligible: z.number().int(),
    sampled: z.number().int(),
    inferences: z.number().int(),
    // Outputs committed before skipped_call_cap existed lack it.
    outcomes: z.preprocess((v) => (v !== null && typeof v === 'object' ? { skipped_call_cap: 0, ...v } : v), z.record(z.enum(CONSTRUCT_OUTCOMES), z.number().int())),
    records: z.object({ reason: z.number().int(), reflect: z.number().int(), refine: z.number().int() }).strict(),
    llm: LlmUsageSchema.strict(),
    teacher: z.object({ model: z.string(), simulator: z.boolean() }).strict(),
  })
  .strict();
export type ConstructReport = z.infer<typeof ConstructReportSchema>;

export function zeroOutcomes(): Record<ConstructOutcome, number> {
  return Object.fromEntries(CONSTRUCT_OUTCOMES.map((o) => [o, 0])) as Record<ConstructOutcome, number>;
}

/** Concatenates inference records (in plan order) into the three JSONL files and the manifest. */
export function assembleFiles(records: readonly InferenceRecord[]): {
  files: Record<(typeof DATASET_NAMES)[number], string>;
  manifest: string;
  counts: Record<(typeof DATASET_NAMES)[number], number>;
  outcomes: Record<ConstructOutcome, number>;
  usage: LlmUsage;
} {
  const lines: Record<(typeof DATASET_NAMES)[number], string[]> = { reason: [], reflect: [], refine: [] };
  const manifest: string[] = [];
  const outcomes = zeroOutcomes();
  let usage = zeroUsage();
  for (const r of records) {
    const at = { reason: [] as number[], reflect: [] as number[], refine: [] as number[] };
    for (const d of DATASET_NAMES) {
      for (const rec of r.records[d]) {
        lines[d].push(JSON.stringify(SftRecordSchema.parse(rec)));
        at[d].push(lines[d].length);
      }
    }
    outcomes[r.outcome]++;
    usage = addUsage(usage, r.usage);
    const m: ManifestLine = { workflowId: r.workflowId, entityId: r.entityId, index: r.index, k: r.k, seed: r.seed, outcome: r.outcome, reason: r.reason, label: r.label, usage: r.usage, provenance: r.provenance, lines: at };
    manifest.push(JSON.stringify(m));
  }
  const join = (xs: string[]) => (xs.length ? xs.join('\n') + '\n' : '');
  return {
    files: { reason: join(lines.reason), reflect: join(lines.reflect), refine: join(lines.refine) },
    manifest: join(manifest),
    counts: { reason: lines.reason.length, reflect: lines.reflect.length, refine: lines.refine.length },
    outcomes,
    usage,
  };
}
