// The default run id leaves the budget settings out: raising the cap, correcting a price, changing
// the transport retries or switching the teacher to the Batch API continues the same run; anything
// the outputs depend on (the teacher's model, the dataset) still gives another run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { R4ecConfigSchema, type R4ecConfigInput } from '../../config/schema';
import { deriveRunId, runIdConfigHash } from '../../cli/run-id';

const base: R4ecConfigInput = { dataset: { kind: 'synthetic' }, llm: { teacher: { baseUrl: 'https://api.openai.com/v1', model: 'gpt-4o' }, cap: { maxCalls: 100 } } };
const id = (c: R4ecConfigInput) => {
  const config = R4ecConfigSchema.parse(c);
  return deriveRunId(config, runIdConfigHash(config), '/nonexistent-state-dir');
};

test('budget settings do not change the default run id; the teacher and the data do', () => {
  const first = id(base);
  assert.match(first, /^r4ec-synthetic-[0-9a-f]{12}$/);
  assert.equal(id({ ...base, llm: { ...base.llm, cap: { maxCalls: 100_000, maxTokens: 5, maxUsd: 3 } } }), first, 'a higher cap');
  assert.equal(id({ ...base, llm: { ...base.llm, prices: { 'gpt-4o': { inputPerMTok: 1, outputPerMTok: 2 } } } }), first, 'prices');
  assert.equal(id({ ...base, llm: { ...base.llm, transport: { maxAttempts: 9 } } }), first, 'transport retries');
  assert.equal(id({ ...base, llm: { ...base.llm, teacher: { baseUrl: 'https://api.openai.com/v1', model: 'gpt-4o', batch: { enabled: true, pollIntervalSeconds: 5 } } } }), first, 'the batch path');
  assert.notEqual(id({ ...base, llm: { ...base.llm, teacher: { baseUrl: 'https://api.openai.com/v1', model: 'gpt-4o-mini' } } }), first, 'another teacher');
  assert.notEqual(id({ ...base, construct: { sampleFraction: 0.5 } }), first, 'another sample');
});
