// askTeacher (llm queue): one teacher call of a construction inference, its own activity so the Web
// UI shows the prompt (the spec in the input) and the answer (the output). Delegates to the LLM
// layer's callLlm (cache first, format re-asks, transport errors as retryable failures) on the
// worker's registry: the configured teacher, or the simulator the llm worker runs (taught the
// dataset's catalog through `catalogKey`). It heartbeats while a call waits, so the calls of a
// killed worker are retried elsewhere after the heartbeat timeout instead of the full call timeout.
import { Context } from '@temporalio/activity';
import { z } from 'zod';
import { DOMAINS } from '../config/names';
import { PromptSpecSchema } from '../core/prompts/builders';
import type { ActivityDeps } from './deps';
import { createLlmActivities, type CallLlmOutput } from './llm';
import { parseInput } from './validate';

export const AskTeacherInputSchema = z
  .object({
    runId: z.string().min(1),
    /** The ingest artifact (the simulator's catalog). */
    datasetKey: z.string().min(1),
    domain: z.enum(DOMAINS),
    entityId: z.string().min(1),
    /** Request seed: the inference number k (Algorithm 1 runs twice per sample, seeds 0 and 1). */
    seed: z.number().int(),
    prompt: PromptSpecSchema,
    /** The run's format budget (`llm.formatRetries`). */
    formatRetries: z.number().int().min(0).max(10),
  })
  .strict();
export type AskTeacherInput = z.input<typeof AskTeacherInputSchema>;

const HEARTBEAT_MS = 2_000;

export function createConstructTeacherActivities(deps: ActivityDeps) {
  const llm = createLlmActivities(deps);
  return {
    async askTeacher(raw: AskTeacherInput): Promise<CallLlmOutput> {
      const input = parseInput(AskTeacherInputSchema, raw, 'askTeacher');
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_MS);
      try {
        return await llm.callLlm({
          runId: input.runId,
          stage: 'construct',
          role: 'teacher',
          domain: input.domain,
          entityId: input.entityId,
          prompt: input.prompt,
          seed: input.seed,
          catalogKey: input.datasetKey,
          formatRetries: input.formatRetries,
        });
      } finally {
        clearInterval(beat);
      }
    },
  };
}
