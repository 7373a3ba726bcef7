// The report stage (cpu queue): HTML + JSON into the store.
import { z } from 'zod';
import { LlmUsageSchema } from '../core/llm/usage';
import { buildReport, type ReportInput } from '../core/report/build';
import { renderHtml } from '../core/report/html';
import { StageOutput, stageKey } from '../core/store';
import { hashJson } from '../core/util/hash';
import type { ActivityDeps } from './deps';
import { parseInput } from './validate';

export const REPORT_CODE_VERSION = 'report-v1';

const Input = z.object({
  report: z.object({
    runId: z.string(),
    datasetKind: z.string(),
    simulator: z.boolean(),
    stages: z.record(z.string(), z.object({ status: z.string(), seconds: z.number(), skipped: z.boolean() })),
    ingest: z.record(z.string(), z.number()).optional(),
    construct: z.object({ outcomes: z.record(z.string(), z.record(z.string(), z.number())) }).optional(),
    refine: z.object({ outcomes: z.record(z.string(), z.record(z.string(), z.number())) }).optional(),
    train: z.record(z.string(), z.unknown()).optional(),
    llm: LlmUsageSchema,
    llmByStage: z.record(z.string(), z.any()).optional(),
    artifacts: z.object({ ingest: z.string().optional(), train: z.string().optional() }),
  }),
  lookupOnly: z.boolean().optional(),
});

export interface WriteReportOutput {
  key: string;
  contentHash: string;
  skipped: boolean;
  htmlKey: string;
  jsonKey: string;
}

export function createReportActivities(deps: ActivityDeps) {
  return {
    async writeReport(raw: z.input<typeof Input>): Promise<WriteReportOutput> {
      const { report } = parseInput(Input, raw, 'writeReport');
      // Timings differ on every run; the report's key follows what it reports, not when.
      const stable = { ...report, stages: Object.fromEntries(Object.entries(report.stages).map(([k, v]) => [k, v.status])) };
      const key = stageKey({ stage: 'report', codeVersion: REPORT_CODE_VERSION, config: {}, inputs: [hashJson(stable)] });
      const out = new StageOutput(deps.store, key);
      const keys = { htmlKey: out.objectKey('report.html'), jsonKey: out.objectKey('report.json') };
      if (await out.isComplete()) return { key, contentHash: await out.contentHash(), skipped: true, ...keys };
      const data = await buildReport(deps.store, report as ReportInput);
      await out.putJson('report.json', data);
      await out.put('report.html', renderHtml(data));
      const contentHash = await out.commit('report', { runId: report.runId });
      return { key, contentHash, skipped: false, ...keys };
    },
  };
}
