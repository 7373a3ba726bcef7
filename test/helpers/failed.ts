// The workflows a visibility query lists as failed, as `rerun --failed` sees them.
import type { Client } from '@temporalio/client';

/**
 * Hits of `query` whose newest execution failed. Visibility keeps every execution: a repaired
 * entity's earlier, failed execution still matches the query, so each hit is checked against the
 * newest execution of its workflow id (what `describe` returns). Visibility lags, so the query is
 * repeated until `expected` hits are found (10 s at most). Each hit is named by its workflow id, or
 * with `by: 'entityId'` by its R4ecEntityId search attribute; sorted.
 */
export async function listFailed(client: Client, query: string, expected: number, by: 'workflowId' | 'entityId' = 'workflowId'): Promise<string[]> {
  let ids: string[] = [];
  for (let i = 0; i < 50; i++) {
    const hits = new Map<string, string>();
    for await (const wf of client.workflow.list({ query })) hits.set(wf.workflowId, by === 'entityId' ? String(wf.searchAttributes.R4ecEntityId?.[0]) : wf.workflowId);
    ids = [];
    for (const [workflowId, name] of hits) {
      const latest = await client.workflow.getHandle(workflowId).describe();
      if (String(latest.searchAttributes.R4ecOutcome?.[0]).startsWith('failed_')) ids.push(name);
    }
    if (ids.length === expected) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return ids.sort();
}
