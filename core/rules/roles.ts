// Who answers an LLM role: its configured endpoint, the local model server (llm.serveModel.roles),
// or the simulator (a role with neither). One rule for the llm worker, timeouts, estimates, refine's
// stage key and the report.
import type { LlmRole } from '../../config/names';
import type { R4ecConfig } from '../../config/schema';

type LlmConfig = R4ecConfig['llm'];

export type RoleSource = 'endpoint' | 'serve-model' | 'simulator';

export function roleSource(llm: LlmConfig, role: LlmRole): RoleSource {
  if (llm[role] !== undefined) return 'endpoint';
  if (role !== 'teacher' && llm.serveModel.roles.includes(role)) return 'serve-model';
  return 'simulator';
}
