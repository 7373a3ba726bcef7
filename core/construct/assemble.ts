// The construct stage's last step: every inference record of the plan, in plan order → D_reason,
// D_reflect, D_refine (chat JSONL, each line validated), the manifest and the report, committed as
// the stage output (unless too many inferences failed); then the work area is removed.
//
// Retried at any point it ends the same way: before the commit the records are all still there;
// after it, the committed output is returned as it is and only the clean-up is finished.
import type { Domain } from '../../config/names';
import { R4ecError } from '../errors';
import { faultPoint } from '../fault';
import { overFailureLimit, StageFailureLimit, tallyFailures, writeRefusal } from '../stage/failure-limit';
import { StageOutput, type ArtifactStore } from '../store';
import { assembleFiles, ConstructReportSchema, DATASET_FILES, MANIFEST_FILE, REPORT_FILE, type ConstructReport } from './output';
import { InferenceRecordSchema, type InferenceRecord } from './records';
import { constructSummaryOf, type ConstructSummary } from './stage';
import { inferenceKey, readPlanInfo, refusalKey } from './work';

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
  /** Share of the inferences that may fail (failed_format, failed_transport) for the output to be committed; absent: any. */
  failureLimit?: number | undefined;
}

const FAILED = new Set<string>(['failed_format', 'failed_transport']);

/** Removes the work area once the output is committed; what an earlier attempt removed is skipped. */
async function removeWorkArea(store: ArtifactStore, workKey: string, onProgress: (p: { removed: number }) => void): Promise<void> {
  let removed = 0;
  for (const key of await store.list(`${workKey}/`)) {
    await store.delete(key);
    removed++;
    if (removed === 1) faultPoint('construct.assemble.cleanup');
    if (removed % 1000 === 0) onProgress({ removed });
  }
}

export async function assembleConstruction(
  store: ArtifactStore,
  input: AssembleConstructionInput,
  onProgress: (p: { entity: number } | { removed: number }) => void = () => {},
): Promise<{ key: string; contentHash: string; summary: ConstructSummary }> {
  const out = new StageOutput(store, input.key);
  if (await out.isComplete()) {
    // An earlier attempt committed and died (cleaning up, or before it could report): the output stands.
    const summary = constructSummaryOf((await out.manifest()).meta);
    await removeWorkArea(store, input.workKey, onProgress);
    return { key: input.key, contentHash: await out.contentHash(), summary };
  }
  const info = await readPlanInfo(store, input.workKey);
  const records: InferenceRecord[] = [];
  const failedKeys: string[] = [];
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
      if (FAILED.has(r.data.outcome)) failedKeys.push(key);
    }
    if (i % 500 === 0) onProgress({ entity: i });
  }
  if (input.failureLimit !== undefined) {
    const failed = records.flatMap((r) => (FAILED.has(r.outcome) ? [r] : []));
    const tally = tallyFailures(
      records.length,
      failed.map((r) => ({ outcome: r.outcome, message: r.reason })),
    );
    if (overFailureLimit(tally, input.failureLimit)) {
      await writeRefusal(store, refusalKey(input.workKey), { units: tally.units, failed: failedKeys });
      throw new StageFailureLimit(`construct (${input.domain})`, tally, input.failureLimit, 'construct.failureLimit', 'inferences');
    }
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
  for (const d of ['reason', 'reflect', 'refine'] as const) await out.put(DATASET_FILES[d], a.files[d]);
  await out.put(MANIFEST_FILE, a.manifest);
  await out.putJson(REPORT_FILE, report);
  const summary: ConstructSummary = { outcomes: a.outcomes, llm: a.usage, records: a.counts, sampled: info.sampled };
  const contentHash = await out.commit('construct', { ...summary, domain: input.domain, teacher: input.teacher });
  faultPoint('construct.assemble.after-commit');
  // The output is complete: the scratch records are no longer needed.
  await removeWorkArea(store, input.workKey, onProgress);
  return { key: input.key, contentHash, summary };
}
