import type { LlmRegistry } from '../core/llm/registry';
import type { DevicePool } from '../core/python-job/devices';
import type { ArtifactStore } from '../core/store';

/** What every activity factory receives; workers build it, tests inject their own. */
export interface ActivityDeps {
  store: ArtifactStore;
  /** `$R4EC_STATE_DIR` (default `./.r4ec`): caches, scratch, logs. */
  stateDir: string;
  /** The worker's environment: API keys are read from here by name, never passed in payloads. */
  env: NodeJS.ProcessEnv;
  /** Python interpreter of the trainer venv (gpu queue). */
  python?: string;
  /** gpu queue: the machine's GPUs, one per trainer process or encoder session (none: CPU only). */
  devices?: DevicePool;
  /** llm queue: one client per role (configured endpoint or the simulator). */
  llm?: LlmRegistry;
  /** llm queue: teach the simulator a dataset's catalog (no-op without a simulator). */
  ensureSimulatorCatalog?: (ingestKey?: string) => Promise<void>;
}
