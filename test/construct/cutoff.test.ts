// Construct under a knowledge cutoff: with train.knowledgeCutoff f > 0 every target it samples and
// every history its prompts show lies below the user's cutoff floor(f · train_end); f = 0 leaves the
// plan and the stage key exactly as they were.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ConstructSchema, LlmSchema } from '../../config/schema';
import { constructKeys, datasetFor, PlanEntrySchema, sampleOf, writePlan, type PlanEntry } from '../../core/construct';
import { knowledgePrefix, type DatasetView } from '../../core/data';
import { buildPrompt } from '../../core/prompts/builders';
import { LocalStore } from '../../core/store';
import { ingestSynthetic, type Artifact } from '../helpers/dataset';
import { checkPromptHistories, SplitIndex } from './helpers';

let dir: string;
let store: LocalStore;
let view: DatasetView;
let ingest: Artifact;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'r4ec-construct-cutoff-'));
  store = new LocalStore(join(dir, 'store'));
  ({ view, ingest } = await ingestSynthetic(store, { users: 40, items: 80, seed: 9 }));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const construct = ConstructSchema.parse({ sampleFraction: 1 });

async function plan(workKey: string, domain: 'user' | 'item', knowledgeCutoff?: number): Promise<PlanEntry[]> {
  const info = await writePlan(store, workKey, { domain, construct, ingest, knowledgeCutoff });
  const out: PlanEntry[] = [];
  for (let p = 0; p < info.pages; p++) out.push(...(JSON.parse((await store.get(`${workKey}/plan/${p}.json`)).toString('utf8')) as unknown[]).map((e) => PlanEntrySchema.parse(e)));
  return out;
}

test('construct with knowledgeCutoff 0.5: no target and no prompt history at or after a user\'s cutoff', async () => {
  const seq = await view.sequences();
  const prefix = knowledgePrefix(seq, 0.5);
  // "training part" = the prefix: checkPromptHistories then rejects anything at or past c_u.
  const idx = new SplitIndex(view.meta, prefix);
  const ds = await datasetFor(store, ingest.key);
  let checked = 0;
  for (const domain of ['user', 'item'] as const) {
    const entries = await plan(`cutoff-work/${domain}`, domain, 0.5);
    assert.ok(entries.length > (domain === 'user' ? 20 : 30), `${domain}: ${entries.length} samples`);
    for (const e of entries) {
      assert.equal(e.knowledgeCutoff, 0.5);
      assert.ok(e.pos < prefix.trainEnd[e.user]!, `${domain} ${e.entityId}: target position ${e.pos} ≥ c_u ${prefix.trainEnd[e.user]}`);
      const { sample, reasonSpec } = sampleOf(ds, domain, e);
      const prov = sample.provenance;
      for (const side of [prov.history, prov.like, prov.dislike]) {
        if (side) for (const p of side.positions) assert.ok(p < prefix.trainEnd[side.user]!, `${domain} ${e.entityId}: position ${p} of user ${side.user} ≥ its cutoff`);
      }
      checked += checkPromptHistories(idx, buildPrompt(reasonSpec).map((m) => m.content).join('\n'), prov, domain, `${domain} ${e.entityId}`);
    }
  }
  assert.ok(checked > 200, `${checked} history entries checked`);

  // The check can fail: the same samples drawn without the cutoff show positions past it.
  const full = await plan('cutoff-work/user-full', 'user');
  assert.ok(full.some((e) => e.pos >= prefix.trainEnd[e.user]!), 'without the cutoff some targets lie past it');
  assert.throws(() => {
    for (const e of full) checkPromptHistories(idx, buildPrompt(sampleOf(ds, 'user', e).reasonSpec).map((m) => m.content).join('\n'), sampleOf(ds, 'user', e).sample.provenance, 'user', e.entityId);
  });
});

test('construct: f = 0 keeps the plan entries and the key as they were; f > 0 changes the key', async () => {
  const entries = await plan('cutoff-work/user-zero', 'user', 0);
  assert.ok(entries.every((e) => !('knowledgeCutoff' in e)));
  const llm = LlmSchema.parse({});
  const k = (knowledgeCutoff?: number) => constructKeys({ domain: 'user', construct, llm, ingest, knowledgeCutoff }).key;
  assert.equal(k(0), k(undefined));
  assert.notEqual(k(0.5), k(undefined));
  assert.notEqual(k(0.5), k(0.25));
});
