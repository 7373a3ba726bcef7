import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { toFailure } from '../../activities/failure';
import { DataError } from '../../core/data/errors';
import { R4ecError } from '../../core/errors';
import { LlmError } from '../../core/llm/errors';
import { StoreError } from '../../core/store/types';
import { ConfigError } from '../../core/validate-config';

test('an R4ecError leaves as a failure of type code, retryable as the error says, facts and suggestion in details', () => {
  const bad = toFailure(new DataError('ratings.dat', 3, 'rating', 'an integer 1..5', 'x'), { prefix: 'ingestDataset' });
  assert.equal(bad.type, 'DataError');
  assert.equal(bad.nonRetryable, true);
  assert.match(bad.message, /^ingestDataset: ratings\.dat:3: field "rating"/);
  assert.deepEqual(bad.details, [
    { name: 'DataError', message: 'ratings.dat:3: field "rating": expected an integer 1..5 but found "x"', file: 'ratings.dat', line: 3, field: 'rating', expected: 'an integer 1..5', found: 'x' },
  ]);

  const transport = toFailure(new LlmError({ kind: 'rate_limited', status: 429, retryAfterMs: 1500, message: 'slow down', endpoint: 'http://e', model: 'm' }));
  assert.equal(transport.type, 'LlmTransportError');
  assert.equal(transport.nonRetryable, false);
  assert.equal(transport.nextRetryDelay, 1500);
  assert.deepEqual(transport.details, [{ kind: 'rate_limited', status: 429, endpoint: 'http://e', model: 'm' }]);

  const io = toFailure(new StoreError('disk', 'io'));
  assert.equal(io.type, 'io');
  assert.equal(io.nonRetryable, false);

  const withHint = toFailure(new R4ecError('no key', 'codec_key_missing', { suggestion: 'export K=…' }));
  assert.equal(withHint.message, 'no key\n  suggestion: export K=…');
  assert.deepEqual(withHint.details, [{ suggestion: 'export K=…' }]);

  const config = toFailure(new ConfigError(['llm.teacher: bad'], 'workflow input', 'fix it'), { type: 'ConfigError' });
  assert.equal(config.type, 'ConfigError');
  assert.equal(config.nonRetryable, true);
  assert.deepEqual(config.details, [{ problems: ['llm.teacher: bad'], suggestion: 'fix it' }]);
});

test('a plain error keeps its name as type and stays retryable unless the caller knows better; a failure passes through', () => {
  const plain = toFailure(new TypeError('boom'));
  assert.equal(plain.type, 'TypeError');
  assert.equal(plain.nonRetryable, false);
  const forced = toFailure(new Error('no sample'), { prefix: 'loadConstructSample', type: 'ConstructPlanError', nonRetryable: true });
  assert.equal(forced.message, 'loadConstructSample: no sample');
  assert.equal(forced.type, 'ConstructPlanError');
  assert.equal(forced.nonRetryable, true);
  const already = ApplicationFailure.nonRetryable('x', 'StageOutputMissing');
  assert.equal(toFailure(already), already);
});
