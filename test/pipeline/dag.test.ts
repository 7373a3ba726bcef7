// The DAG as data: which stages a selection computes, which it only looks up (with the conditional
// needs), and the order of a per-domain stage's domains.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { R4ecConfigSchema, type R4ecConfigInput } from '../../config/schema';
import { DAG, domainWaves, isPerDomain, neededStages, selectStages, stagePlan } from '../../core/rules';

const config = (o: R4ecConfigInput = {}) => R4ecConfigSchema.parse(o);
const lookups = (plan: ReturnType<typeof stagePlan>) => plan.filter((p) => p.lookupOnly).map((p) => p.stage);
const computes = (plan: ReturnType<typeof stagePlan>) => plan.filter((p) => !p.lookupOnly).map((p) => p.stage);

test('a selection computes its stages in DAG order', () => {
  assert.deepEqual(selectStages(undefined), ['ingest', 'construct', 'finetune', 'refine', 'encode', 'train', 'report']);
  assert.deepEqual(selectStages({ only: ['train', 'ingest'] }), ['ingest', 'train']);
  assert.deepEqual(selectStages({ from: 'refine', until: 'train' }), ['refine', 'encode', 'train']);
  assert.deepEqual(selectStages({ until: 'construct' }), ['ingest', 'construct']);
});

test('stages before the selection are looked up only when a selected stage reads them', () => {
  const cfg = config({ train: { variants: ['base', 'r4ec'] } });
  const plan = stagePlan({ only: ['train'] }, cfg);
  assert.deepEqual(computes(plan), ['train']);
  // train reads encode; encode reads refine; refine reads the fine-tuned adapters, which read construct.
  assert.deepEqual(lookups(plan), ['ingest', 'construct', 'finetune', 'refine', 'encode']);
  assert.deepEqual(computes(stagePlan(undefined, cfg)), selectStages(undefined));
  assert.deepEqual(lookups(stagePlan(undefined, cfg)), []);
});

test('train on base alone needs no knowledge; refine without a fine-tune backend needs no adapters', () => {
  assert.deepEqual([...neededStages(['train'], config({ train: { variants: ['base'] } }))], ['ingest']);
  const noFinetune = config({ finetune: { backend: 'none' }, train: { variants: ['base', 'kar'] } });
  assert.deepEqual([...neededStages(['refine'], noFinetune)].sort(), ['ingest']);
  assert.deepEqual(lookups(stagePlan({ only: ['train'] }, noFinetune)), ['ingest', 'refine', 'encode']);
  assert.deepEqual([...neededStages(['refine'], config())].sort(), ['construct', 'finetune', 'ingest']);
});

test('the report alone reports on the whole DAG; within a larger selection it reads nothing more', () => {
  const cfg = config({ train: { variants: ['base', 'r2ec'] } });
  assert.deepEqual(lookups(stagePlan({ only: ['report'] }, cfg)), ['ingest', 'construct', 'finetune', 'refine', 'encode', 'train']);
  assert.deepEqual(lookups(stagePlan({ only: ['train', 'report'] }, cfg)), ['ingest', 'construct', 'finetune', 'refine', 'encode']);
  assert.deepEqual(lookups(stagePlan({ from: 'report' }, cfg)), lookups(stagePlan({ only: ['report'] }, cfg)));
});

test('construct and refine run per domain; refine does items first when users are approximated from them', () => {
  assert.deepEqual(
    Object.keys(DAG).filter((s) => isPerDomain(s as keyof typeof DAG)),
    ['construct', 'refine'],
  );
  assert.deepEqual(domainWaves('construct', config({ refine: { activeUserMinInteractions: 5 } })), [['user', 'item']]);
  assert.deepEqual(domainWaves('refine', config({ refine: { activeUserMinInteractions: 0 } })), [['user', 'item']]);
  assert.deepEqual(domainWaves('refine', config({ refine: { activeUserMinInteractions: 5 } })), [['item'], ['user']]);
  assert.deepEqual(domainWaves('train', config()), []);
  // Every need names an earlier stage: the DAG has no cycle and runs in STAGES order.
  const order = selectStages(undefined);
  for (const [stage, node] of Object.entries(DAG)) for (const n of node.needs) assert.ok(order.indexOf(n.stage) < order.indexOf(stage as never), `${stage} needs ${n.stage}`);
});

test('--force: the forced stage and every selected stage after it discard their outputs first; looked-up stages never', () => {
  const forced = (plan: ReturnType<typeof stagePlan>) => plan.filter((p) => p.force).map((p) => p.stage);
  assert.deepEqual(forced(stagePlan({ force: 'refine' }, config())), ['refine', 'encode', 'train', 'report']);
  assert.deepEqual(forced(stagePlan(undefined, config())), []);
  const plan = stagePlan({ from: 'construct', until: 'encode', force: 'finetune' }, config());
  assert.deepEqual(forced(plan), ['finetune', 'refine', 'encode']);
  assert.ok(plan.filter((p) => p.lookupOnly).every((p) => !p.force), 'a looked-up stage is never forced');
  assert.deepEqual(forced(stagePlan({ only: ['construct', 'train'], force: 'construct' }, config())), ['construct', 'train']);
});
