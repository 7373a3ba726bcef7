// assembleConstruction (cpu queue): every inference record of the plan, in plan order → D_reason,
// D_reflect, D_refine (chat JSONL, each line validated), the manifest and the report, committed as
// the stage output; then the work area is removed.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import { DOMAINS } from '../config/names';
import { assembleFiles, ConstructReportSchema, DATASET_FILES, InferenceRecordSchema, MANIFEST_FILE, REPORT_FILE, type ConstructReport, type InferenceRecord } from '../core/construct';
import { LlmUsageSchema } from '../core/llm/usage';
import { StageOutput } from '../core/store';
import type { ActivityDeps } from './deps';
import { inferenceKey, readPlanInfo, type ConstructSummary } from './construct-plan';
import { parseInput } from './validate';

const AssembleInput = z
  .object({
    key: z.string().min(1),
    workKey: z.string().min(1),
    domain: z.enum(DOMAINS),
    inferencesPerSample: z.number().int().positive(),
    teacher: z.object({ model: z.string(), simulator: z.boolean() }).strict(),
  })
  .strict();

const SummarySchema = z.object({
  outcomes: z.record(z.string(), z.number()),
  llm: LlmUsageSchema,
  records: z.object({ reason: z.number(), reflect: z.number(), refine: z.number() }),
  sampled: z.number(),
});

/** The stage summary kept in the output's manifest meta (read back when the stage is skipped). */
export function stageSummaryOf(meta: Record<string, unknown>): ConstructSummary {
  return SummarySchema.parse(meta) as ConstructSummary;
}

export function createConstructAssembleActivities(deps: ActivityDeps) {
  return {
    async assembleConstruction(raw: z.input<typeof AssembleInput>): Promise<{ key: string; contentHash: string; summary: ConstructSummary }> {
      const input = parseInput(AssembleInput, raw, 'assembleConstruction');
      const info = await readPlanInfo(deps.store, input.workKey);
      const ctx = Context.current();
      const records: InferenceRecord[] = [];
      for (let i = 0; i < info.sampled; i++) {
        for (let k = 0; k < input.inferencesPerSample; k++) {
          const key = inferenceKey(input.workKey, i, k);
          if (!(await deps.store.exists(key))) {
            throw ApplicationFailure.nonRetryable(`assembleConstruction: inference ${i}/${k} has no record (${key}); rerun the stage to redo it`, 'ConstructIncomplete');
          }
          const r = InferenceRecordSchema.safeParse(JSON.parse((await deps.store.get(key)).toString('utf8')));
          if (!r.success) {
            const issue = r.error.issues[0]!;
            throw ApplicationFailure.nonRetryable(`assembleConstruction: ${key}: field "${issue.path.join('.')}": ${issue.message}`, 'ConstructIncomplete');
          }
          records.push(r.data);
        }
        if (i % 500 === 0) ctx.heartbeat({ entity: i });
      }
      const a = assembleFiles(records);
      const report: ConstructReport = ConstructReportSchema.parse({
        domain: input.domain,
        datasetKey: info.datasetKey,
        entities: info.entities,
        eligible: info.eligible,
        sampled: info.sampled,
        inferences: records.length,
        outcomes: a.outcomes,
        records: a.counts,
        llm: a.usage,
        teacher: input.teacher,
      });
      const out = new StageOutput(deps.store, input.key);
      for (const d of ['reason', 'reflect', 'refine'] as const) await out.put(DATASET_FILES[d], a.files[d]);
      await out.put(MANIFEST_FILE, a.manifest);
      await out.putJson(REPORT_FILE, report);
      const summary: ConstructSummary = { outcomes: a.outcomes, llm: a.usage, records: a.counts, sampled: info.sampled };
      const contentHash = await out.commit('construct', { ...summary, domain: input.domain, teacher: input.teacher });
      // The output is complete: the scratch records are no longer needed.
      for (const key of await deps.store.list(`${input.workKey}/`)) await deps.store.delete(key).catch(() => undefined);
      return { key: input.key, contentHash, summary };
    },
  };
}
