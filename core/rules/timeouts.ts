// How long an LLM call may take. One rule for the client's per-request timeout, the construct and
// refine workflows' activity timeouts, and the plan that hands them to entity workflows.
import { LLM_ROLES, type LlmRole } from '../../config/names';
import type { R4ecConfig } from '../../config/schema';
import { roleSource } from './roles';

type LlmConfig = R4ecConfig['llm'];

/** Slack per format attempt beyond the request timeout: waiting for a concurrency slot, cache and ledger writes. */
const ATTEMPT_SLACK_MS = 30_000;

/** The simulator's per-request timeout: a minute plus twice its configured latency. */
export function simulatorRequestTimeoutMs(simulator: { latencyMs: number }): number {
  return 60_000 + simulator.latencyMs * 2;
}

/** A role's per-request timeout: its endpoint's, the local model server's, or the simulator's. */
export function requestTimeoutMs(llm: LlmConfig, role: LlmRole): number {
  const source = roleSource(llm, role);
  if (source === 'serve-model') return llm.serveModel.timeoutMs;
  return llm[role]?.timeoutMs ?? simulatorRequestTimeoutMs(llm.simulator);
}

/** The start-to-close timeout of one LLM activity, which holds every format re-ask of its call. */
export function callTimeoutMs(llm: LlmConfig, role: LlmRole): number {
  return (llm.formatRetries + 1) * (requestTimeoutMs(llm, role) + ATTEMPT_SLACK_MS);
}

export function callTimeouts(llm: LlmConfig): Record<LlmRole, number> {
  return Object.fromEntries(LLM_ROLES.map((r) => [r, callTimeoutMs(llm, r)])) as Record<LlmRole, number>;
}

/**
 * The heartbeat timeout of an activity in ms, from its setting in the run's config. A workflow that began
 * under a config without that setting (older code) gets the default.
 */
export function heartbeatTimeout(seconds: number | undefined, fallbackSeconds = 30): number {
  return (seconds ?? fallbackSeconds) * 1000;
}
