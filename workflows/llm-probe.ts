// A diagnostic: one inference call through the llm queue (`r4ec`-independent: start it from the Web
// UI or the temporal CLI to check that llm workers, endpoints and the simulator answer).
import { proxyActivities } from '@temporalio/workflow';
import type { CallLlmOutput, createLlmActivities } from '../activities/llm';

export interface LlmProbeInput {
  llmQueue: string;
  /** Ingest artifact key whose catalog the simulator should know. */
  catalogKey?: string;
  history: Array<[string, number]>;
  medium?: 'movie' | 'book';
}

export async function llmProbeWorkflow(input: LlmProbeInput): Promise<CallLlmOutput> {
  const { callLlm } = proxyActivities<ReturnType<typeof createLlmActivities>>({
    taskQueue: input.llmQueue,
    startToCloseTimeout: '5 minutes',
    retry: { maximumAttempts: 5, initialInterval: '500 milliseconds' },
  });
  return callLlm({
    runId: 'probe',
    stage: 'refine',
    role: 'teacher',
    seed: 0,
    ...(input.catalogKey ? { catalogKey: input.catalogKey } : {}),
    prompt: { domain: 'user', step: 'reason', variant: 'inference', medium: input.medium ?? 'movie', history: input.history.map(([title, rating]) => ({ title, rating })) },
  });
}
