// The four LoRA jobs of a run and the construct datasets each trains on: names the finetune workflow,
// its activities, the adapter registry and the CLI's progress share.
import type { Domain, LlmRole } from '../../config/names';

export type SftDatasetKind = 'reason' | 'reflect' | 'refine';

export interface LoraJobDef {
  name: LoraJobName;
  domain: Domain;
  role: Extract<LlmRole, 'actor' | 'reflection'>;
  /** Construct datasets it trains on; the actor's loss is L_reason + L_refine. */
  datasets: readonly SftDatasetKind[];
}

export const LORA_JOB_NAMES = ['user-actor', 'user-reflection', 'item-actor', 'item-reflection'] as const;
export type LoraJobName = (typeof LORA_JOB_NAMES)[number];

export const LORA_JOBS: readonly LoraJobDef[] = [
  { name: 'user-actor', domain: 'user', role: 'actor', datasets: ['reason', 'refine'] },
  { name: 'user-reflection', domain: 'user', role: 'reflection', datasets: ['reflect'] },
  { name: 'item-actor', domain: 'item', role: 'actor', datasets: ['reason', 'refine'] },
  { name: 'item-reflection', domain: 'item', role: 'reflection', datasets: ['reflect'] },
];
