// The planted-latent data set: deterministic, MovieLens format, a taste that moves ratings but not
// what is watched, oracle texts that state it, and a control that hands the same texts to others.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ML_GENRES } from '../../core/data/movielens';
import { PLANTED_SETS, synthesizePlanted, type PlantedTruth } from '../../core/data/synth-planted';

const root = mkdtempSync(join(tmpdir(), 'r4ec-planted-'));
after(() => rmSync(root, { recursive: true, force: true }));

const read = (dir: string, f: string) => readFileSync(join(dir, f));
const lines = (dir: string, f: string) => read(dir, f).toString('latin1').trim().split('\n');
const records = (dir: string, set: string, d: string) =>
  lines(dir, `knowledge/${set}/${d}.jsonl`).map((l) => JSON.parse(l) as { entityId: string; texts: string[] });

test('same seed → identical files; another seed → different', async () => {
  await synthesizePlanted({ outDir: join(root, 'a'), seed: 5, users: 50, items: 80 });
  await synthesizePlanted({ outDir: join(root, 'b'), seed: 5, users: 50, items: 80 });
  await synthesizePlanted({ outDir: join(root, 'c'), seed: 6, users: 50, items: 80 });
  for (const f of ['movies.dat', 'ratings.dat', 'synth.json', 'knowledge/oracle/user.jsonl', 'knowledge/shuffled/item.jsonl']) {
    assert.ok(read(join(root, 'a'), f).equals(read(join(root, 'b'), f)), f);
  }
  assert.ok(!read(join(root, 'a'), 'ratings.dat').equals(read(join(root, 'c'), 'ratings.dat')));
});

test('the taste lifts ratings but does not decide what is watched; the texts state it', async () => {
  const dir = join(root, 'sig');
  const r = await synthesizePlanted({ outDir: dir, seed: 2 });
  const truth = JSON.parse(read(dir, 'synth.json').toString()) as PlantedTruth;
  assert.equal(truth.users.length, 400);
  const genresOf = new Map(truth.items.map((i) => [i.item, i.genres]));
  const favOf = new Map(truth.users.map((u) => [u.user, u.favourites]));
  for (const g of truth.items.flatMap((i) => i.genres)) assert.ok((ML_GENRES as readonly string[]).includes(g), g);

  let matchN = 0;
  let matchLiked = 0;
  let otherN = 0;
  let otherLiked = 0;
  let watchedMatch = 0;
  for (const line of lines(dir, 'ratings.dat')) {
    const [u, i, rating] = line.split('::');
    const m = genresOf.get(i!)!.some((g) => favOf.get(u!)!.includes(g));
    const liked = Number(rating) > 3 ? 1 : 0;
    if (m) {
      matchN++;
      matchLiked += liked;
    } else {
      otherN++;
      otherLiked += liked;
    }
    watchedMatch += m ? 1 : 0;
  }
  assert.equal(matchN + otherN, r.ratings);
  // Planted: a favourite genre makes a like far more likely.
  assert.ok(matchLiked / matchN > otherLiked / otherN + 0.4, `${matchLiked / matchN} vs ${otherLiked / otherN}`);
  // Not what is watched: the share of favourite-genre titles a user watches is what a user with
  // another taste would watch (taste-independent selection); compare with shuffled tastes.
  const users = truth.users.map((u) => u.user);
  let shuffledMatch = 0;
  for (const line of lines(dir, 'ratings.dat')) {
    const [u, i] = line.split('::');
    const other = users[(users.indexOf(u!) + 7) % users.length]!;
    if (genresOf.get(i!)!.some((g) => favOf.get(other)!.includes(g))) shuffledMatch++;
  }
  assert.ok(Math.abs(watchedMatch - shuffledMatch) / r.ratings < 0.03, `${watchedMatch} vs ${shuffledMatch} of ${r.ratings}`);

  // Oracle texts: each user's names exactly its favourites; each item's names its genres.
  const oracleUsers = records(dir, 'oracle', 'user');
  assert.equal(oracleUsers.length, 400);
  for (const rec of oracleUsers) {
    const named = ML_GENRES.filter((g) => rec.texts[0]!.includes(g));
    assert.deepEqual([...named].sort(), [...favOf.get(rec.entityId)!].sort(), rec.texts[0]);
  }
  const rated = new Set(lines(dir, 'ratings.dat').map((l) => l.split('::')[1]));
  const oracleItems = records(dir, 'oracle', 'item');
  assert.deepEqual(new Set(oracleItems.map((x) => x.entityId)), rated, 'an item text for every rated item, none for others');
  for (const rec of oracleItems) for (const g of genresOf.get(rec.entityId)!) assert.ok(rec.texts[0]!.includes(g), rec.texts[0]);

  // The control: the same texts, other entities.
  for (const d of ['user', 'item']) {
    const o = records(dir, 'oracle', d);
    const s = records(dir, 'shuffled', d);
    assert.deepEqual(s.map((x) => x.entityId), o.map((x) => x.entityId));
    assert.deepEqual(s.map((x) => x.texts[0]).sort(), o.map((x) => x.texts[0]).sort());
    const same = s.filter((x, k) => x.texts[0] === o[k]!.texts[0]).length;
    assert.ok(same / s.length < 0.1, `${d}: ${same} of ${s.length} kept their own text`);
  }
  assert.deepEqual([...PLANTED_SETS], ['oracle', 'shuffled']);
});

test('bad sizes are refused', async () => {
  await assert.rejects(synthesizePlanted({ outDir: join(root, 'x'), seed: 1, items: 10 }), /items >= 60/);
  await assert.rejects(synthesizePlanted({ outDir: join(root, 'x'), seed: 1, interactions: [5, 10] }), /interactions/);
  await assert.rejects(synthesizePlanted({ outDir: join(root, 'x'), seed: 1, favourites: 0 }), /favourites/);
});
