// The pipeline's own activities (cpu queue). Validation, defaults and hashing of the config happen
// here — never only in the r4ec client — so a plain `temporal workflow start --input-file cfg.json`
// gets exactly the same checks.
import { ApplicationFailure } from '@temporalio/activity';
import { ConfigError, validateConfig } from '../config/load';
import type { R4ecConfig } from '../config/schema';
import { hashJson } from '../core/util/hash';
import type { ActivityDeps } from './deps';

export interface ResolvePipelineConfigOutput {
  config: R4ecConfig;
  configHash: string;
}

export function createPipelineActivities(_deps: ActivityDeps) {
  return {
    async resolvePipelineConfig(input: { raw: unknown }): Promise<ResolvePipelineConfigOutput> {
      try {
        const config = validateConfig(input.raw ?? {}, 'workflow input');
        return { config, configHash: hashJson(config) };
      } catch (err) {
        if (err instanceof ConfigError) {
          throw ApplicationFailure.nonRetryable(`${err.message}\n  suggestion: ${err.suggestion ?? ''}`, 'ConfigError', { problems: err.problems });
        }
        throw err;
      }
    },
  };
}
