// The synthetic generator: deterministic bytes per seed, MovieLens format that ingests cleanly,
// accented ISO-8859-1 titles, and a planted genre signal beyond what item ids and user ids carry.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadDataset } from '../../core/data/dataset';
import { ingest } from '../../core/data/ingest';
import { ML_GENRES } from '../../core/data/movielens';
import { synthesizeDataset, SYNTH_MARKER } from '../../core/data/synth';
import { LocalStore } from '../../core/store';
import { mlConfig } from './fixtures';

const root = mkdtempSync(join(tmpdir(), 'r4ec-synth-'));
after(() => rmSync(root, { recursive: true, force: true }));
const FILES = ['movies.dat', 'users.dat', 'ratings.dat', SYNTH_MARKER];
const read = (dir: string) => FILES.map((f) => readFileSync(join(dir, f)));

test('same seed → identical bytes; another seed → different data', async () => {
  const a = await synthesizeDataset({ outDir: join(root, 'a'), seed: 7 });
  await synthesizeDataset({ outDir: join(root, 'b'), seed: 7 });
  await synthesizeDataset({ outDir: join(root, 'c'), seed: 8 });
  assert.equal(a.users, 300);
  assert.equal(a.items, 400);
  const [fa, fb, fc] = [read(join(root, 'a')), read(join(root, 'b')), read(join(root, 'c'))];
  FILES.forEach((f, i) => assert.ok(fa[i]!.equals(fb[i]!), `${f} differs for the same seed`));
  for (const i of [0, 2]) assert.ok(!fa[i]!.equals(fc[i]!), `${FILES[i]} equal for different seeds`);
  // Regenerating into an existing directory replaces it with the same bytes.
  await synthesizeDataset({ outDir: join(root, 'a'), seed: 7 });
  FILES.forEach((f, i) => assert.ok(read(join(root, 'a'))[i]!.equals(fb[i]!), `${f} changed on regeneration`));
});

test('MovieLens format: 18 genres, accented titles in ISO-8859-1, ingests with healthy counts', async () => {
  const dir = join(root, 'fmt');
  await synthesizeDataset({ outDir: dir, seed: 1 });
  const movies = readFileSync(join(dir, 'movies.dat'));
  assert.ok(movies.includes(Buffer.from('é', 'latin1')) || movies.includes(Buffer.from('ñ', 'latin1')), 'has Latin-1 accents');
  assert.ok(!movies.includes(Buffer.from('é', 'utf8')), 'not UTF-8');
  const genres = new Set(movies.toString('latin1').trim().split('\n').flatMap((l) => l.split('::')[2]!.split('|')));
  assert.deepEqual([...genres].sort(), [...ML_GENRES].sort());

  const store = new LocalStore(join(root, 'store'));
  const r = await ingest({ store, dataset: mlConfig({ kind: 'synthetic' }), dir });
  assert.equal(r.summary.users, 300);
  assert.ok(r.summary.items >= 350, `items ${r.summary.items}`);
  assert.ok(r.summary.train >= 5000 && r.summary.test >= 1500, JSON.stringify(r.summary));
  const posRate = r.summary.trainPositive / r.summary.train;
  assert.ok(posRate > 0.4 && posRate < 0.7, `positive rate ${posRate}`);
  const view = await loadDataset(store, r.key);
  assert.equal(view.meta.kind, 'synthetic');
  const accented = view.meta.items.filter((i) => /[^\x00-\x7f]/.test(i.title));
  assert.ok(accented.length > 0 && accented.every((i) => !i.title.includes('Ã')), 'accents survive without mojibake');
});

test('planted signal: user x genre predicts test labels beyond user and item averages', async () => {
  const dir = join(root, 'sig');
  await synthesizeDataset({ outDir: dir, seed: 3 });
  const store = new LocalStore(join(root, 'store-sig'));
  const view = await loadDataset(store, (await ingest({ store, dataset: mlConfig({ kind: 'synthetic' }), dir })).key);
  const train = await view.samples('train');
  const test_ = await view.samples('test');
  const genresOf = (item: number) => view.item(item).genres;
  const mean = (m: Map<string, [number, number]>, k: string, prior: number) => {
    const [s, n] = m.get(k) ?? [0, 0];
    return (s + 3 * prior) / (n + 3);
  };
  const add = (m: Map<string, [number, number]>, k: string, l: number) => {
    const v = m.get(k) ?? [0, 0];
    m.set(k, [v[0] + l, v[1] + 1]);
  };
  const byItem = new Map<string, [number, number]>();
  const byUser = new Map<string, [number, number]>();
  const byUserGenre = new Map<string, [number, number]>();
  let pos = 0;
  for (let s = 0; s < train.n; s++) {
    const l = train.label[s]!;
    pos += l;
    add(byItem, String(train.item[s]), l);
    add(byUser, String(train.user[s]), l);
    for (const g of genresOf(train.item[s]!)) add(byUserGenre, `${train.user[s]}|${g}`, l);
  }
  const prior = pos / train.n;
  const idScore: number[] = [];
  const genreScore: number[] = [];
  for (let s = 0; s < test_.n; s++) {
    const u = String(test_.user[s]);
    const it = mean(byItem, String(test_.item[s]), prior);
    const um = mean(byUser, u, prior);
    idScore.push(um + it);
    const gs = genresOf(test_.item[s]!);
    genreScore.push(gs.reduce((a, g) => a + mean(byUserGenre, `${u}|${g}`, um), 0) / gs.length + it);
  }
  const labels = Array.from(test_.label);
  const aucId = auc(labels, idScore);
  const aucGenre = auc(labels, genreScore);
  assert.ok(aucId > 0.6, `id-only AUC ${aucId}`);
  assert.ok(aucGenre > aucId + 0.02, `genre-aware AUC ${aucGenre.toFixed(3)} vs ids only ${aucId.toFixed(3)}`);
});

/** Mann-Whitney AUC with average ranks for ties. */
function auc(labels: number[], scores: number[]): number {
  const idx = scores.map((_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  const rank = new Float64Array(scores.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]!] === scores[idx[i]!]) j++;
    for (let k = i; k <= j; k++) rank[idx[k]!] = (i + j) / 2 + 1;
    i = j + 1;
  }
  const P = labels.reduce((a, b) => a + b, 0);
  const N = labels.length - P;
  const sumPos = labels.reduce((a, l, i) => a + (l ? rank[i]! : 0), 0);
  return (sumPos - (P * (P + 1)) / 2) / (P * N);
}

test('dataset.synthetic sizes the generated set; another size gets a directory of its own', async () => {
  const { resolveDatasetDir } = await import('../../activities/ingest');
  const { DatasetSchema } = await import('../../config/schema');
  const state = join(root, 'state');
  const small = await resolveDatasetDir(DatasetSchema.parse({ synthetic: { users: 30, items: 60 } }), state);
  assert.equal(small, join(state, 'data', 'synthetic-30x60-1'));
  const users = readFileSync(join(small, 'users.dat'), 'latin1').trim().split('\n');
  const movies = readFileSync(join(small, 'movies.dat'), 'latin1').trim().split('\n');
  assert.deepEqual([users.length, movies.length], [30, 60]);
  // The default size keeps the directory it always had.
  assert.equal(await resolveDatasetDir(DatasetSchema.parse({}), state), join(state, 'data', 'synthetic'));
  assert.throws(() => DatasetSchema.parse({ synthetic: { users: 30, items: 59 } }), /items/);
});
