// The LLM preflight (llm queue): the endpoints this worker would call, checked once before a stage
// sends its first inference (core/llm/preflight.ts). It runs where the calls run, so it sees the same
// endpoints and the same API key variables as callLlm.
import { ApplicationFailure } from '@temporalio/activity';
import { LlmPreflightFailed, preflightRoles, preflightRolesOf, type PreflightResult } from '../core/llm/preflight';
import type { LlmActivityDeps } from './llm';
import { toFailure } from './failure';
import { withHeartbeat } from './heartbeat';

export type { PreflightResult };

export function createLlmPreflightActivities(deps: LlmActivityDeps) {
  return {
    /** Every role: key variable set, endpoint reachable, key accepted, model served; fails with one line per problem. */
    async preflightLlm(): Promise<PreflightResult> {
      const registry = deps.llm;
      if (!registry) {
        throw ApplicationFailure.nonRetryable('preflightLlm: this worker has no LLM registry (start it with `r4ec worker --queue llm`)', 'LlmNotConfigured');
      }
      const roles = preflightRolesOf((role) => (registry.usesSimulator(role) ? undefined : registry.endpointFor(role)));
      const result = await withHeartbeat(() => preflightRoles({ roles, env: deps.env }));
      if (result.problems.length > 0) throw toFailure(new LlmPreflightFailed(result.problems));
      return result;
    },
  };
}
