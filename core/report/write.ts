// The report stage's output: report.json and report.html under a key that follows what the report
// says (not when the stages ran). Retried after the commit, it returns the committed output, which
// is "skipped" only when it was there before this activity was first scheduled.
import { faultPoint } from '../fault';
import { StageOutput, stageKey, type ArtifactStore } from '../store';
import { hashJson } from '../util/hash';
import { buildReport, type ReportInput } from './build';
import { renderHtml } from './html';

export const REPORT_CODE_VERSION = 'report-v1';

export interface WrittenReport {
  key: string;
  contentHash: string;
  skipped: boolean;
  htmlKey: string;
  jsonKey: string;
}

/** `scheduledAtMs`: when the activity was first scheduled (an output committed since is its own). */
export async function writeReportOutput(store: ArtifactStore, report: ReportInput, scheduledAtMs = Date.now()): Promise<WrittenReport> {
  // Timings differ on every run; the report's key follows what it reports, not when.
  const stable = { ...report, stages: Object.fromEntries(Object.entries(report.stages).map(([k, v]) => [k, v?.status])) };
  const key = stageKey({ stage: 'report', codeVersion: REPORT_CODE_VERSION, config: {}, inputs: [hashJson(stable)] });
  const out = new StageOutput(store, key);
  const keys = { htmlKey: out.objectKey('report.html'), jsonKey: out.objectKey('report.json') };
  if (await out.isComplete()) {
    const m = await out.manifest();
    const ours = m.meta.runId === report.runId && Date.parse(m.createdAt) >= scheduledAtMs;
    return { key, contentHash: await out.contentHash(), skipped: !ours, ...keys };
  }
  const data = await buildReport(store, report);
  await out.putJson('report.json', data);
  await out.put('report.html', renderHtml(data));
  const contentHash = await out.commit('report', { runId: report.runId });
  faultPoint('report.write.after-commit');
  return { key, contentHash, skipped: false, ...keys };
}
