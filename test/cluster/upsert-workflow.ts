// A workflow that upserts each of the five R4ec search attributes (the cluster-setup test's proof).
import { upsertSearchAttributes } from '@temporalio/workflow';
import { r4ecAttributes } from '../../workflows/search-attributes';

export async function upsertEveryR4ecAttribute(input: { runId: string }): Promise<string> {
  upsertSearchAttributes(r4ecAttributes({ runId: input.runId, stage: 'construct', domain: 'user', entityId: '42', outcome: 'kept_reason' }));
  return 'upserted';
}
