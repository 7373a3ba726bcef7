// What one construction inference leaves behind (Algorithm 1): its outcome with a reason, and the
// fine-tuning records it adds to D_reason / D_reflect / D_refine. Records use the inference-variant
// prompts (no target item); assistant turns as docs/DESIGN.md ("finetune") defines them.
import { z } from 'zod';
import { CONSTRUCT_OUTCOMES, type ConstructOutcome } from '../../config/names';
import { actorSftRecord, reflectionSftRecord, SftRecordSchema, type SftRecord } from '../prompts/sft';
import { ConstructSampleSchema, promptSpec, type ConstructSample } from './sample';
import { R4ecError } from '../errors';
import { LlmUsageSchema } from '../llm/usage';

const Usage = LlmUsageSchema.strict();

/** The teacher's parsed answers of one inference, as far as it got. */
export const InferenceStepsSchema = z
  .object({
    reason: z.object({ knowledge: z.string(), like: z.boolean() }).strict().optional(),
    reflect: z.object({ reasonable: z.boolean(), reflection: z.string() }).strict().optional(),
    refine: z.object({ knowledge: z.string(), like: z.boolean() }).strict().optional(),
  })
  .strict();
export type InferenceSteps = z.infer<typeof InferenceStepsSchema>;

export const DATASET_NAMES = ['reason', 'reflect', 'refine'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

/** One inference's record in the work area (`<workKey>/inferences/<entityId>/<k>.json`). */
export const InferenceRecordSchema = z
  .object({
    workflowId: z.string(),
    entityId: z.string(),
    index: z.number().int(),
    k: z.number().int().nonnegative(),
    seed: z.number().int(),
    outcome: z.enum(CONSTRUCT_OUTCOMES),
    reason: z.string().min(1),
    label: z.boolean(),
    usage: Usage,
    steps: InferenceStepsSchema,
    provenance: ConstructSampleSchema.shape.provenance,
    records: z.object({ reason: z.array(SftRecordSchema), reflect: z.array(SftRecordSchema), refine: z.array(SftRecordSchema) }).strict(),
    /** Who wrote it: the inference workflow's execution id, or a batch activity's (`batch/…`). */
    execution: z.string().optional(),
  })
  .strict();
export type InferenceRecord = z.infer<typeof InferenceRecordSchema>;

export class ConstructRecordError extends R4ecError {
  constructor(message: string) {
    super(message, 'ConstructRecordError');
    this.name = 'ConstructRecordError';
  }
}

/** Algorithm 1's additions for an outcome; throws when the steps an outcome needs are missing. */
export function sftRecordsFor(sample: ConstructSample, outcome: ConstructOutcome, steps: InferenceSteps): InferenceRecord['records'] {
  const out: Record<DatasetName, SftRecord[]> = { reason: [], reflect: [], refine: [] };
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new ConstructRecordError(`outcome ${outcome} of ${sample.domain} ${sample.entityId} needs the ${what} answer`);
    return v;
  };
  if (outcome === 'kept_reason') {
    const upre = need(steps.reason, 'reason').knowledge;
    const judge = need(steps.reflect, 'reflect');
    if (!judge.reasonable) throw new ConstructRecordError(`kept_reason of ${sample.entityId} with a "not reasonable" judgement`);
    out.reason.push(actorSftRecord(promptSpec(sample, 'reason', 'inference'), upre));
    out.reflect.push(reflectionSftRecord(promptSpec(sample, 'reflect', 'inference', { previous: upre }), { reasonable: true, reflection: '' }));
  } else if (outcome === 'kept_refine') {
    const upre = need(steps.reason, 'reason').knowledge;
    const judge = need(steps.reflect, 'reflect');
    const urpre = need(steps.refine, 'refine').knowledge;
    if (judge.reasonable) throw new ConstructRecordError(`kept_refine of ${sample.entityId} with a "reasonable" judgement`);
    out.reflect.push(reflectionSftRecord(promptSpec(sample, 'reflect', 'inference', { previous: upre }), { reasonable: false, reflection: judge.reflection }));
    out.refine.push(actorSftRecord(promptSpec(sample, 'refine', 'inference', { previous: upre, reflection: judge.reflection }), urpre));
  }
  return out;
}
