// Before an LLM stage sends its first inference: the llm queue's preflight checks every role's
// endpoint (key variable, reachability, key accepted, model served). Its problems fail the stage at
// once, one line each, with the type LlmPreflightFailed on the stage workflow itself, so the pipeline
// and the CLI show them as they are.
import { ActivityFailure, ApplicationFailure, patched, proxyActivities } from '@temporalio/workflow';
import type { createLlmPreflightActivities } from '../activities/llm-preflight';
import type { R4ecConfig } from '../config/schema';
import { heartbeatTimeout } from '../core/rules';

export async function preflightLlm(config: R4ecConfig): Promise<void> {
  // Stage workflows that began before the preflight existed replay without it.
  if (!patched('llm-preflight')) return;
  const { preflightLlm: check } = proxyActivities<ReturnType<typeof createLlmPreflightActivities>>({
    taskQueue: config.queues.llm.name,
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: heartbeatTimeout(config.recovery?.heartbeatTimeoutSeconds),
    retry: { initialInterval: '1 second', maximumAttempts: 3, nonRetryableErrorTypes: ['LlmPreflightFailed', 'LlmNotConfigured', 'InvalidActivityInput'] },
  });
  try {
    await check();
  } catch (err) {
    if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'LlmPreflightFailed') {
      throw ApplicationFailure.create({ message: err.cause.message, type: 'LlmPreflightFailed', nonRetryable: true, cause: err.cause });
    }
    throw err;
  }
}
