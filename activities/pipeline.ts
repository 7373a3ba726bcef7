// The pipeline's own activities (cpu queue). Validation, defaults and hashing of the config happen
// here — never only in the r4ec client — so a plain `temporal workflow start --input-file cfg.json`
// gets exactly the same checks.
import { ConfigError, validateConfig } from '../core/validate-config';
import type { LlmRole } from '../config/names';
import type { R4ecConfig } from '../config/schema';
import { roleModelNames } from '../core/llm/role-models';
import { hashJson } from '../core/util/hash';
import { discardStageOutput } from '../core/stage/discard';
import type { ArtifactName } from '../core/rules';
import { runMoney, type MoneySummary } from '../core/llm/money';
import type { ActivityDeps } from './deps';
import { toFailure } from './failure';
import { withHeartbeat } from './heartbeat';

export interface ResolvePipelineConfigOutput {
  config: R4ecConfig;
  configHash: string;
  /** The model each LLM role asks (the run summary's `llm.models`). Absent in histories from before it existed. */
  models?: Record<LlmRole, string>;
}

export function createPipelineActivities(deps: ActivityDeps) {
  async function resolve(input: { raw: unknown; runId?: string }): Promise<ResolvePipelineConfigOutput> {
    try {
      const config = validateConfig(input.raw ?? {}, 'workflow input');
      const configHash = hashJson(config);
      // The run's resolved config, for `r4ec export` and humans (content-keyed: never overwritten).
      if (input.runId) await deps.store.put(`runs/${encodeURIComponent(input.runId)}/config-${configHash.slice(0, 16)}.json`, JSON.stringify(config, null, 1));
      return { config, configHash, models: roleModelNames(config) };
    } catch (err) {
      if (err instanceof ConfigError) throw toFailure(err, { type: 'ConfigError' });
      throw err;
    }
  }

  return {
    resolvePipelineConfig: (input: { raw: unknown; runId?: string }): Promise<ResolvePipelineConfigOutput> => withHeartbeat(() => resolve(input)),

    /** The money the run's LLM calls spent so far (its usage records at llm.prices), for the run summary and the report. */
    async summarizeRunMoney(input: { runId: string; llm: R4ecConfig['llm'] }): Promise<MoneySummary> {
      return withHeartbeat(() => runMoney(deps.store, input.runId, input.llm));
    },

    /** `r4ec run --force STAGE`: removes these outputs and their work areas so their stages compute again. */
    async discardStageOutputs(input: { outputs: Array<{ name: ArtifactName; key: string }> }): Promise<{ deleted: number }> {
      let deleted = 0;
      for (const o of input.outputs) deleted += await discardStageOutput(deps.store, o.name, o.key);
      return { deleted };
    },
  };
}
