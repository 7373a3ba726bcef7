// Pure parts of construction: seeded selection, training-only samples, Algorithm 1's rule, the
// records each outcome adds, and the assembled files.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  assembleFiles,
  buildSample,
  itemSampleTarget,
  sampleCount,
  selectEntities,
  sftRecordsFor,
  userSamplePos,
  type InferenceRecord,
} from '../../core/construct';
import { pickRater, type DatasetView, type ItemRaterIndex, type Sequences } from '../../core/data';
import { LocalStore } from '../../core/store';
import { decideAfterReflect, decideAfterRefine } from '../../core/rules';
import { ingestSynthetic } from '../helpers/dataset';

let dir: string;
let view: DatasetView;
let seq: Sequences;
let raters: ItemRaterIndex;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'r4ec-construct-core-'));
  view = (await ingestSynthetic(new LocalStore(join(dir, 'store')), { users: 40, items: 80, seed: 9 })).view;
  seq = await view.sequences();
  raters = await view.itemRaters();
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('selection: the fraction, deterministic per seed, independent of list order, different per seed and domain', () => {
  const ids = Array.from({ length: 1000 }, (_, i) => ({ entityId: String(i + 1) }));
  const a = selectEntities(ids, 0.4, 42, 'user').map((e) => e.entityId);
  assert.equal(a.length, 400);
  assert.deepEqual(selectEntities([...ids].reverse(), 0.4, 42, 'user').map((e) => e.entityId).sort(), [...a].sort());
  assert.deepEqual(selectEntities(ids, 0.4, 42, 'user').map((e) => e.entityId), a);
  const b = selectEntities(ids, 0.4, 43, 'user').map((e) => e.entityId);
  const c = selectEntities(ids, 0.4, 42, 'item').map((e) => e.entityId);
  assert.ok(a.filter((x) => b.includes(x)).length < 250, 'another seed picks another set');
  assert.ok(a.filter((x) => c.includes(x)).length < 250, 'domains are sampled independently');
  assert.equal(sampleCount(10, 0.4), 4);
  assert.equal(sampleCount(1, 0.4), 1);
  assert.equal(sampleCount(0, 0.4), 0);
});

test('samples: user and item targets and every history position lie in training parts', () => {
  const meta = view.meta;
  let users = 0;
  for (let u = 0; u < meta.users.length; u++) {
    const pos = userSamplePos(seq, u, meta.historyLength, 42, meta.users[u]!);
    if (pos === null) continue;
    users++;
    assert.ok(pos < seq.trainEnd[u]! && pos >= Math.min(meta.historyLength + 1, seq.trainEnd[u]! - 1));
    const s = buildSample(meta, seq, undefined, 'user', { entityId: meta.users[u]!, index: u, user: u, pos });
    assert.equal(s.history.length, Math.min(meta.historyLength, pos));
    assert.deepEqual(s.provenance.history.positions, Array.from({ length: s.history.length }, (_, j) => pos - s.history.length + j));
    assert.equal(s.label, seq.rating[seq.offsets[u]! + pos]! > meta.labelThreshold);
  }
  assert.ok(users > 30);
  let items = 0;
  let avoided = 0;
  for (const i of view.entityItems()) {
    const id = meta.items[i - 1]!.id;
    const target = itemSampleTarget(seq, raters, i, meta.labelThreshold, meta.historyLength, 42, id);
    assert.ok(target, `item ${i} has a training rater`);
    items++;
    assert.ok(target.pos < seq.trainEnd[target.user]!);
    const s = buildSample(meta, seq, raters, 'item', { entityId: id, index: i, ...target });
    for (const side of [s.provenance.like, s.provenance.dislike]) {
      if (!side) continue;
      for (const p of side.positions) assert.ok(p < seq.trainEnd[side.user]!);
      // The item itself is never in a like/dislike history (the histories are "other than this item").
      assert.ok(side.positions.every((p) => seq.item[seq.offsets[side.user]! + p] !== i));
    }
    const shown = [pickRater(seq, raters, i, meta.labelThreshold, 'liking'), pickRater(seq, raters, i, meta.labelThreshold, 'disliking')];
    if (!shown.includes(target.user)) avoided++;
    assert.equal(s.likeHistory === null, s.provenance.like === null);
  }
  assert.ok(items > 50);
  assert.ok(avoided / items > 0.9, 'the target user is rarely one of the users shown');
  assert.throws(() => buildSample(meta, seq, undefined, 'user', { entityId: meta.users[0]!, index: 0, user: 0, pos: seq.trainEnd[0]! }), /outside/);
});

test('Algorithm 1: keep/discard rule', () => {
  assert.equal((decideAfterReflect(true, true, true) as { outcome: string }).outcome, 'kept_reason');
  assert.equal((decideAfterReflect(false, true, true) as { outcome: string }).outcome, 'discard_wrong_reasonable');
  assert.equal((decideAfterReflect(true, true, false) as { outcome: string }).outcome, 'discard_correct_unreasonable');
  assert.deepEqual(decideAfterReflect(false, true, false), { refine: true });
  assert.equal(decideAfterRefine(true, true).outcome, 'kept_refine');
  assert.equal(decideAfterRefine(false, true).outcome, 'discard_refine_wrong');
});

test('records: each outcome adds what Algorithm 1 says, with inference-variant prompts; files and manifest line numbers agree', () => {
  const meta = view.meta;
  const u = 3;
  const pos = userSamplePos(seq, u, meta.historyLength, 1, meta.users[u]!)!;
  const s = buildSample(meta, seq, undefined, 'user', { entityId: meta.users[u]!, index: u, user: u, pos });
  const upre = 'This user enjoys tense thrillers and crime stories and rates light comedies poorly overall.';
  const reflection = 'The preference overlooks the dramas this user rated highly.';
  const urpre = 'This user enjoys thrillers, crime stories and serious dramas, and rates light comedies poorly.';
  const kept = sftRecordsFor(s, 'kept_reason', { reason: { knowledge: upre, like: true }, reflect: { reasonable: true, reflection: '' } });
  assert.deepEqual([kept.reason.length, kept.reflect.length, kept.refine.length], [1, 1, 0]);
  assert.equal(kept.reason[0]!.messages[2].content, upre);
  assert.ok(!kept.reason[0]!.messages[1].content.includes('Target Movie Name'), 'inference-variant prompt: no target item');
  assert.equal(kept.reflect[0]!.messages[2].content, '<Final Judgement>The user preference is reasonable</Final Judgement>\n<Reflection></Reflection>');
  const refined = sftRecordsFor(s, 'kept_refine', { reason: { knowledge: upre, like: false }, reflect: { reasonable: false, reflection }, refine: { knowledge: urpre, like: true } });
  assert.deepEqual([refined.reason.length, refined.reflect.length, refined.refine.length], [0, 1, 1]);
  assert.ok(refined.refine[0]!.messages[1].content.includes(reflection) && refined.refine[0]!.messages[1].content.includes(upre));
  assert.equal(refined.refine[0]!.messages[2].content, urpre);
  assert.match(refined.reflect[0]!.messages[2].content, /is not reasonable<\/Final Judgement>\n<Reflection>The preference overlooks/);
  for (const o of ['discard_wrong_reasonable', 'discard_correct_unreasonable', 'discard_refine_wrong', 'failed_format', 'failed_transport'] as const) {
    assert.deepEqual(sftRecordsFor(s, o, { reason: { knowledge: upre, like: true } }), { reason: [], reflect: [], refine: [] });
  }
  assert.throws(() => sftRecordsFor(s, 'kept_refine', { reason: { knowledge: upre, like: false } }), /needs the reflect answer/);

  const usage = { calls: 2, cacheHits: 1, promptTokens: 10, completionTokens: 5 };
  const rec = (k: number, outcome: InferenceRecord['outcome'], records: InferenceRecord['records']): InferenceRecord => ({
    workflowId: `r/construct/user/${s.entityId}/${k}`, entityId: s.entityId, index: u, k, seed: k, outcome, reason: 'because', label: s.label, usage, steps: {}, provenance: s.provenance, records,
  });
  const a = assembleFiles([rec(0, 'kept_reason', kept), rec(1, 'kept_refine', refined), rec(2, 'failed_format', { reason: [], reflect: [], refine: [] })]);
  assert.deepEqual(a.counts, { reason: 1, reflect: 2, refine: 1 });
  assert.equal(a.outcomes.kept_reason + a.outcomes.kept_refine + a.outcomes.failed_format, 3);
  assert.deepEqual(a.usage, { calls: 6, cacheHits: 3, promptTokens: 30, completionTokens: 15 });
  const lines = a.manifest.trim().split('\n').map((l) => JSON.parse(l) as { lines: Record<string, number[]> });
  assert.deepEqual(lines[1]!.lines, { reason: [], reflect: [2], refine: [1] });
  assert.equal(JSON.parse(a.files.reflect.trim().split('\n')[1]!).messages[2].content, refined.reflect[0]!.messages[2].content);
});
