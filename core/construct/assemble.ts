// The construct stage's last step: every inference record of the plan, in plan order → D_reason,
// D_reflect, D_refine (chat JSONL, each line validated), the manifest and the report, committed as
// the stage output; then the work area is removed.
import type { Domain } from '../../config/names';
import { R4ecError } from '../errors';
import { StageOutput, type ArtifactStore } from '../store';
import { assembleFiles, ConstructReportSchema, DATASET_FILES, MANIFEST_FILE, REPORT_FILE, type ConstructReport } from './output';
import { InferenceRecordSchema, type InferenceRecord } from './records';
import type { ConstructSummary } from './stage';
import { inferenceKey, readPlanInfo } from './work';

/** An inference of the plan has no (valid) record: the fan-out did not finish it. */
export class ConstructIncomplete extends R4ecError {
  constructor(message: string) {
    super(message, 'ConstructIncomplete');
    this.name = 'ConstructIncomplete';
  }
}

export interface AssembleConstructionInput {
  key: string;
  workKey: string;
  domain: Domain;
  inferencesPerSample: number;
  teacher: { model: string; simulator: boolean };
}

export async function assembleConstruction(
  store: ArtifactStore,
  input: AssembleConstructionInput,
  onProgress: (p: { entity: number }) => void = () => {},
): Promise<{ key: string; contentHash: string; summary: ConstructSummary }> {
  const info = await readPlanInfo(store, input.workKey);
  const records: InferenceRecord[] = [];
  for (let i = 0; i < info.sampled; i++) {
    for (let k = 0; k < input.inferencesPerSample; k++) {
      const key = inferenceKey(input.workKey, i, k);
      if (!(await store.exists(key))) throw new ConstructIncomplete(`inference ${i}/${k} has no record (${key}); rerun the stage to redo it`);
      const r = InferenceRecordSchema.safeParse(JSON.parse((await store.get(key)).toString('utf8')));
      if (!r.success) {
        const issue = r.error.issues[0]!;
        throw new ConstructIncomplete(`${key}: field "${issue.path.join('.')}": ${issue.message}`);
      }
      records.push(r.data);
    }
    if (i % 500 === 0) onProgress({ entity: i });
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
  const out = new StageOutput(store, input.key);
  for (const d of ['reason', 'reflect', 'refine'] as const) await out.put(DATASET_FILES[d], a.files[d]);
  await out.put(MANIFEST_FILE, a.manifest);
  await out.putJson(REPORT_FILE, report);
  const summary: ConstructSummary = { outcomes: a.outcomes, llm: a.usage, records: a.counts, sampled: info.sampled };
  const contentHash = await out.commit('construct', { ...summary, domain: input.domain, teacher: input.teacher });
  // The output is complete: the scratch records are no longer needed.
  for (const key of await store.list(`${input.workKey}/`)) await store.delete(key).catch(() => undefined);
  return { key: input.key, contentHash, summary };
}
