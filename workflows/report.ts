import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { createReportActivities } from '../activities/report';
import { heartbeatTimeout } from '../core/rules';
import { r4ecAttributes } from './search-attributes';
import type { StageInput, StageResult } from './stage-types';

export interface ReportStageInput extends StageInput {
  report: Parameters<ReturnType<typeof createReportActivities>['writeReport']>[0]['report'];
}

/** report's block of the run summary: where its files are in the store. */
export interface ReportSummary {
  html: string;
  json: string;
}

export async function reportWorkflow(input: ReportStageInput): Promise<StageResult<ReportSummary>> {
  upsertSearchAttributes(r4ecAttributes({ runId: input.runId, stage: 'report' }));
  const { writeReport } = proxyActivities<ReturnType<typeof createReportActivities>>({
    taskQueue: input.config.queues.cpu.name,
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: heartbeatTimeout(input.config.recovery?.heartbeatTimeoutSeconds),
    retry: { maximumAttempts: 3, nonRetryableErrorTypes: ['InvalidActivityInput'] },
  });
  const r = await writeReport({ report: input.report });
  return { artifact: { key: r.key, contentHash: r.contentHash }, skipped: r.skipped, summary: { html: r.htmlKey, json: r.jsonKey } };
}
