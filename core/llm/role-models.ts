// Which model answers each LLM role, by name, for the run summary and the report: the endpoint's
// model, the local model server's base model, or the simulator's (marked as such). The finetune
// stage's adapters are added per job (`user-actor`, …) once it has run.
import { LLM_ROLES, type LlmRole } from '../../config/names';
import type { R4ecConfig } from '../../config/schema';
import { baseModelName, servedBaseDir } from '../model-server/base';
import { roleSource } from '../rules/roles';

export function roleModelNames(config: Pick<R4ecConfig, 'llm' | 'finetune'>): Record<LlmRole, string> {
  const names = {} as Record<LlmRole, string>;
  for (const role of LLM_ROLES) {
    const source = roleSource(config.llm, role);
    names[role] =
      source === 'endpoint' ? config.llm[role]!.model : source === 'serve-model' ? baseModelName(servedBaseDir(config)) : `${config.llm.simulator.model} (simulator)`;
  }
  return names;
}
