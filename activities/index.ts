// Which activities each task queue's worker serves. A stage registers its factory under its queue.
import type { QueueKind } from '../config/names';
import type { ActivityDeps } from './deps';
import { createConstructActivities } from './construct';
import { createEncodeActivities } from './encode';
import { createAdapterServingActivities, createFinetuneActivities } from './finetune';
import { createIngestActivities } from './ingest';
import { createLlmActivities } from './llm';
import { createLlmPreflightActivities } from './llm-preflight';
import { createPipelineActivities } from './pipeline';
import { createRefineActivities } from './refine';
import { createReportActivities } from './report';
import { createStoreActivities } from './store';
import { createTrainActivities } from './train';

export type { ActivityDeps } from './deps';

type Factory = (deps: ActivityDeps) => object;

const REGISTRY: Record<QueueKind, Factory[]> = {
  cpu: [createStoreActivities, createPipelineActivities, createReportActivities, createIngestActivities, createConstructActivities, createRefineActivities],
  llm: [createLlmActivities, createAdapterServingActivities, createLlmPreflightActivities],
  gpu: [createEncodeActivities, createFinetuneActivities, createTrainActivities],
};

export function createActivities(queue: QueueKind, deps: ActivityDeps): Record<string, (...args: never[]) => unknown> {
  const out: Record<string, (...args: never[]) => unknown> = {};
  for (const factory of REGISTRY[queue]) Object.assign(out, factory(deps));
  return out;
}
