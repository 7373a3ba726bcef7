// Typed search-attribute keys (all Keyword; registered by `r4ec up` and the test server).
// Workflows set them so every stage and entity is findable in the Web UI.
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';

export const SA = {
  runId: defineSearchAttributeKey('R4ecRunId', SearchAttributeType.KEYWORD),
  stage: defineSearchAttributeKey('R4ecStage', SearchAttributeType.KEYWORD),
  domain: defineSearchAttributeKey('R4ecDomain', SearchAttributeType.KEYWORD),
  entityId: defineSearchAttributeKey('R4ecEntityId', SearchAttributeType.KEYWORD),
  outcome: defineSearchAttributeKey('R4ecOutcome', SearchAttributeType.KEYWORD),
};

export const SEARCH_ATTRIBUTE_KEYS = Object.values(SA);

/** Pairs for `typedSearchAttributes` when starting a child or for `upsertSearchAttributes`. */
export function r4ecAttributes(a: { runId: string; stage: string; domain?: string; entityId?: string; outcome?: string }): SearchAttributePair[] {
  const pairs: SearchAttributePair[] = [
    { key: SA.runId, value: a.runId },
    { key: SA.stage, value: a.stage },
  ];
  if (a.domain !== undefined) pairs.push({ key: SA.domain, value: a.domain });
  if (a.entityId !== undefined) pairs.push({ key: SA.entityId, value: a.entityId });
  if (a.outcome !== undefined) pairs.push({ key: SA.outcome, value: a.outcome });
  return pairs;
}
