// The report stage (cpu queue): HTML + JSON into the store (core/report/write.ts).
import { Context } from '@temporalio/activity';
import { z } from 'zod';
import { LlmUsageSchema } from '../core/llm/usage';
import type { ReportInput } from '../core/report/build';
import { writeReportOutput, type WrittenReport } from '../core/report/write';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';
import { parseInput } from './validate';

const Input = z.object({
  report: z.object({
    runId: z.string(),
    datasetKind: z.string(),
    simulator: z.boolean(),
    imported: z.object({ sets: z.array(z.string()), contentHash: z.string() }).optional(),
    stages: z.record(z.string(), z.object({ status: z.string(), seconds: z.number(), skipped: z.boolean() })),
    ingest: z.record(z.string(), z.number()).optional(),
    construct: z.object({ outcomes: z.record(z.string(), z.record(z.string(), z.number())) }).optional(),
    refine: z.object({ outcomes: z.record(z.string(), z.record(z.string(), z.number())) }).optional(),
    train: z.record(z.string(), z.unknown()).optional(),
    llm: LlmUsageSchema.extend({ models: z.record(z.string(), z.string()).optional() }),
    llmByStage: z.record(z.string(), z.any()).optional(),
    artifacts: z.object({ ingest: z.string().optional(), train: z.string().optional() }),
    money: z.object({ usd: z.number(), unpriced: z.array(z.string()) }).optional(),
  }),
  lookupOnly: z.boolean().optional(),
});

export type WriteReportOutput = WrittenReport;

export function createReportActivities(deps: ActivityDeps) {
  return {
    async writeReport(raw: z.input<typeof Input>): Promise<WriteReportOutput> {
      const { report } = parseInput(Input, raw, 'writeReport');
      // Every attempt shares the first one's scheduled time: a retry recognises its own commit.
      const since = Context.current().info.scheduledTimestampMs;
      return withHeartbeat(() => writeReportOutput(deps.store, report as ReportInput, since));
    },
  };
}
