// Canonical names (docs/DESIGN.md, "Canonical names"). Scripts outside the project read these: keep them exact.
// Pure constants (no zod), so workflows may import this module.

export const STAGES = ['ingest', 'construct', 'finetune', 'refine', 'encode', 'train', 'report'] as const;
export type Stage = (typeof STAGES)[number];

export const DOMAINS = ['user', 'item'] as const;
export type Domain = (typeof DOMAINS)[number];

export const CONSTRUCT_OUTCOMES = [
  'kept_reason',
  'kept_refine',
  'discard_correct_unreasonable',
  'discard_wrong_reasonable',
  'discard_refine_wrong',
  'failed_format',
  'failed_transport',
  /** Not asked: the run-level LLM cap was reached; asked again by a rerun once the cap has room. */
  'skipped_call_cap',
] as const;
export type ConstructOutcome = (typeof CONSTRUCT_OUTCOMES)[number];

export const REFINE_OUTCOMES = [
  'accepted_first',
  'accepted_after_refine',
  'budget_exhausted',
  'approximated',
  'failed_format',
  'failed_transport',
  'skipped_call_cap',
] as const;
export type RefineOutcome = (typeof REFINE_OUTCOMES)[number];

/** Search attributes registered on the server, all Keyword. */
export const SEARCH_ATTRIBUTES = ['R4ecRunId', 'R4ecStage', 'R4ecDomain', 'R4ecEntityId', 'R4ecOutcome'] as const;
export type SearchAttributeName = (typeof SEARCH_ATTRIBUTES)[number];

export const QUEUE_KINDS = ['cpu', 'llm', 'gpu'] as const;
export type QueueKind = (typeof QUEUE_KINDS)[number];

export const BACKBONES = ['dien', 'gru4rec', 'autoint', 'fignn', 'dcn', 'deepfm'] as const;
export type Backbone = (typeof BACKBONES)[number];

export const VARIANTS = ['base', 'kar', 'r2ec', 'r4ec'] as const;
export type Variant = (typeof VARIANTS)[number];

export const KNOWLEDGE_SETS = ['kar', 'r2ec', 'r4ec'] as const;
export type KnowledgeSet = (typeof KNOWLEDGE_SETS)[number];

export const LLM_ROLES = ['teacher', 'actor', 'reflection'] as const;
export type LlmRole = (typeof LLM_ROLES)[number];

/** Pipeline workflow type and default task queue, as operators type them into the plain Temporal CLI. */
export const PIPELINE_WORKFLOW_TYPE = 'r4ecPipelineWorkflow';
