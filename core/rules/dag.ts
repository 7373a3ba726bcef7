// The DAG r4ec runs, declared once: the stages in order (config/names STAGES), which of them run one
// child per domain and in which order, and the outputs each reads. Some needs hold only under a
// condition of the config or of the run's stage selection; each says why.
import { DOMAINS, STAGES, type Domain, type Stage } from '../../config/names';
import type { R4ecConfig } from '../../config/schema';

/** `r4ec run --only a,b | --from a | --until b`: which stages compute in this run. */
export interface StageSelection {
  only?: Stage[];
  from?: Stage;
  until?: Stage;
  /** `--force STAGE`: this selected stage and every selected stage after it recompute even when their outputs exist. */
  force?: Stage;
}

export interface NeedContext {
  config: R4ecConfig;
  /** The stages this run computes. */
  selected: readonly Stage[];
}

export interface Need {
  stage: Stage;
  /** The need holds only when this is true (absent: always). */
  when?: (c: NeedContext) => boolean;
  why?: string;
}

export interface StageNode {
  needs: readonly Need[];
  /** Per-domain stages (construct, refine): their domains in waves; a wave starts when the one before it finished. */
  domains?: (config: R4ecConfig) => Domain[][];
}

const ALL_DOMAINS_AT_ONCE = (): Domain[][] => [[...DOMAINS]];

export const DAG: Readonly<Record<Stage, StageNode>> = {
  ingest: { needs: [] },
  construct: { needs: [{ stage: 'ingest' }], domains: ALL_DOMAINS_AT_ONCE },
  finetune: { needs: [{ stage: 'construct' }] },
  refine: {
    needs: [
      { stage: 'ingest' },
      { stage: 'finetune', when: ({ config }) => config.finetune.backend !== 'none', why: 'the fine-tuned adapters answer as actor and reflection' },
    ],
    // Approximated (inactive) users are built from item knowledge: items first.
    domains: (config) => (config.refine.activeUserMinInteractions > 0 ? [['item'], ['user']] : [[...DOMAINS]]),
  },
  encode: { needs: [{ stage: 'ingest' }, { stage: 'refine' }] },
  train: {
    needs: [
      { stage: 'ingest' },
      { stage: 'encode', when: ({ config }) => !config.train.variants.every((v) => v === 'base'), why: 'the base variant alone reads no knowledge' },
    ],
  },
  // The report covers what this run computed; selected alone, it reports on the whole DAG's outputs.
  report: {
    needs: (['train', 'refine', 'construct'] as const).map((stage) => ({ stage, when: ({ selected }: NeedContext) => selected.length === 1, why: 'the report alone reports on the whole DAG' })),
  },
};

export function isPerDomain(stage: Stage): boolean {
  return DAG[stage].domains !== undefined;
}

/** The domains of a stage in the waves it runs them (one wave of none for a stage that is not per domain). */
export function domainWaves(stage: Stage, config: R4ecConfig): Domain[][] {
  return DAG[stage].domains?.(config) ?? [];
}

/** Which stages compute in this run; the others before them only look up their outputs. */
export function selectStages(sel: StageSelection | undefined): Stage[] {
  if (!sel) return [...STAGES];
  if (sel.only?.length) return STAGES.filter((s) => sel.only!.includes(s));
  const from = sel.from ? STAGES.indexOf(sel.from) : 0;
  const until = sel.until ? STAGES.indexOf(sel.until) : STAGES.length - 1;
  return STAGES.filter((_, i) => i >= from && i <= until);
}

/** The stages whose outputs the selected ones read, transitively, under this config. */
export function neededStages(selected: readonly Stage[], config: R4ecConfig): Set<Stage> {
  const out = new Set<Stage>();
  const ctx: NeedContext = { config, selected };
  const visit = (s: Stage) => {
    for (const need of DAG[s].needs) {
      if ((need.when && !need.when(ctx)) || out.has(need.stage)) continue;
      out.add(need.stage);
      visit(need.stage);
    }
  };
  selected.forEach(visit);
  return out;
}

/**
 * The run's stages in DAG order: the selected ones compute, the rest are looked up (`lookupOnly`);
 * `force`: a selected stage at or after `selection.force`, whose existing output is discarded first.
 */
export function stagePlan(selection: StageSelection | undefined, config: R4ecConfig): Array<{ stage: Stage; lookupOnly: boolean; force: boolean }> {
  const selected = selectStages(selection);
  const needed = neededStages(selected, config);
  const forceFrom = selection?.force ? STAGES.indexOf(selection.force) : STAGES.length;
  return STAGES.filter((s) => selected.includes(s) || needed.has(s)).map((stage) => {
    const lookupOnly = !selected.includes(stage);
    return { stage, lookupOnly, force: !lookupOnly && STAGES.indexOf(stage) >= forceFrom };
  });
}
