// The report's input from a run summary: the pipeline's report stage and `r4ec report` (for a run that
// stopped before its report stage) build it the same way.
import { LLM_ROLES } from '../config/names';
import type { R4ecConfig } from '../config/schema';
import { roleSource } from '../core/rules';
import type { ReportStageInput } from './report';
import type { RunSummary } from './run-summary';

export type ReportInput = ReportStageInput['report'];

export function reportInput(config: Pick<R4ecConfig, 'dataset' | 'llm'>, s: RunSummary): ReportInput {
  const { llm } = config;
  return {
    runId: s.runId,
    datasetKind: config.dataset.kind,
    // The simulator serves every role without an endpoint or the local model server; say so when knowledge stages ran on it.
    simulator: LLM_ROLES.some((r) => roleSource(llm, r) === 'simulator') && Boolean(s.construct || s.refine),
    ...(s.imported ? { imported: { sets: [...s.imported.sets], contentHash: s.imported.contentHash } } : {}),
    stages: s.stages,
    ...(s.ingest ? { ingest: { ...s.ingest } } : {}),
    ...(s.construct ? { construct: s.construct } : {}),
    ...(s.refine ? { refine: s.refine } : {}),
    ...(s.train ? { train: { ...s.train } } : {}),
    llm: s.llm,
    llmByStage: s.llmByStage,
    ...(s.money ? { money: { usd: s.money.usd, unpriced: s.money.unpriced } } : {}),
    artifacts: { ...(s.artifacts.ingest ? { ingest: s.artifacts.ingest.key } : {}), ...(s.artifacts.train ? { train: s.artifacts.train.key } : {}) },
  };
}
