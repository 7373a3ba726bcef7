// A planted-latent MovieLens-format data set: the yardstick of the knowledge path.
//
// Every user has a hidden taste (`favourites` genres of the 18) that lifts their rating of any title
// carrying one of them; which titles a user watches does not depend on it (popularity only), so the
// backbone's 10-item history window shows the taste only through the ratings of the one or two
// matching titles it happens to hold. Beside the raw files the generator writes the oracle
// knowledge that states the latent in words, in the refine record format
// (`knowledge/<set>/<domain>.jsonl`, one `{ "entityId", "texts" }` per line):
//   oracle    each user's taste and each item's catalog facts (title, year, genres);
//   shuffled  the same texts handed to other entities of the same domain (a control: row alignment
//             must matter, so this set carries nothing about the entity it is attached to).
// A CTR model that reads the oracle set through encode and its connectors must beat Base clearly;
// with the shuffled set it must not. Deterministic for a seed (the same PRNG as synth.ts).
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ML_GENRES } from './movielens';
import { Rng, SYNTH_MARKER, weightedIndex, WORDS, writeMovieLensFiles } from './synth';

export interface PlantedOptions {
  outDir: string;
  seed: number;
  users?: number;
  items?: number;
  /** Interactions per user, drawn uniformly from [min, max]. */
  interactions?: [number, number];
  /** Favourite genres per user. */
  favourites?: number;
  /** Rating points a favourite genre adds (before rounding). */
  effect?: number;
  /**
   * Standard deviation of a user's rating bias. Kept small: any per-user vector, even the shuffled
   * control's, lets a model learn a user's bias the way a user-id embedding does, and that is not
   * what the check is about.
   */
  bias?: number;
}

export const PLANTED_DEFAULTS = { seed: 1, users: 400, items: 300, interactions: [40, 70] as [number, number], favourites: 2, effect: 1.8, bias: 0.1 };

/** Knowledge sets the generator writes under `<outDir>/knowledge/`. */
export const PLANTED_SETS = ['oracle', 'shuffled'] as const;
export type PlantedSet = (typeof PLANTED_SETS)[number];

export interface PlantedResult {
  outDir: string;
  users: number;
  items: number;
  ratings: number;
  /** `<outDir>/knowledge/<set>/<domain>.jsonl`. */
  knowledgeDir: string;
}

/** What the generator planted, as written to `synth.json` (for checks and ceilings; ingest never reads it). */
export interface PlantedTruth {
  generator: 'r4ec synthesizePlanted';
  seed: number;
  genres: string[];
  users: Array<{ user: string; favourites: string[]; bias: number }>;
  items: Array<{ item: string; genres: string[]; quality: number }>;
}

const USER_TEXTS: Array<(a: string, b: string) => string> = [
  (a, b) => `This viewer loves ${a} and ${b} movies and rates them far above everything else.`,
  (a, b) => `${a} and ${b} are this viewer's favourite genres; films of other genres leave them lukewarm.`,
  (a, b) => `A devoted fan of ${a} and ${b} films, this viewer is hard to please with any other kind of movie.`,
];

function list(xs: readonly string[]): string {
  return xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
}

function userText(rng: Rng, favourites: readonly string[]): string {
  const fav = rng.shuffle([...favourites]);
  const t = rng.pick(USER_TEXTS);
  // More than two favourites: the first slot names all but the last.
  return t(list(fav.slice(0, -1)), fav[fav.length - 1]!);
}

function itemText(rng: Rng, title: string, genres: readonly string[]): string {
  const g = list(genres);
  return rng.next() < 0.5 ? `${title} is a ${g} movie.` : `${title}: a ${g} film.`;
}

const jsonl = (rows: Array<{ entityId: string; texts: string[] }>) => rows.map((r) => JSON.stringify(r) + '\n').join('');

export async function synthesizePlanted(opts: PlantedOptions): Promise<PlantedResult> {
  const d = PLANTED_DEFAULTS;
  const nUsers = opts.users ?? d.users;
  const nItems = opts.items ?? d.items;
  const [minN, maxN] = opts.interactions ?? d.interactions;
  const nFav = opts.favourites ?? d.favourites;
  const effect = opts.effect ?? d.effect;
  const biasSd = opts.bias ?? d.bias;
  if (!Number.isInteger(nUsers) || nUsers < 1 || !Number.isInteger(nItems) || nItems < 60) {
    throw new RangeError(`synthesizePlanted: need users >= 1 and items >= 60 (got ${nUsers}, ${nItems})`);
  }
  if (!(minN >= 12 && maxN >= minN && maxN <= nItems)) {
    throw new RangeError(`synthesizePlanted: interactions [${minN}, ${maxN}] must satisfy 12 <= min <= max <= items`);
  }
  if (!Number.isInteger(nFav) || nFav < 1 || nFav > 6) throw new RangeError(`synthesizePlanted: favourites ${nFav} must be 1..6`);
  const rng = new Rng(opts.seed);
  const genres = [...ML_GENRES];

  // Items: a primary genre drawn uniformly (every taste is equally testable), 0-2 more genres, a
  // latent quality, a genre-typed title.
  const items: { genres: number[]; quality: number; pop: number; title: string }[] = [];
  const titles = new Set<string>();
  for (let i = 0; i < nItems; i++) {
    const gs = [rng.int(genres.length)];
    const extra = rng.next() < 0.5 ? (rng.next() < 0.3 ? 2 : 1) : 0;
    while (gs.length < 1 + extra) {
      const g = rng.int(genres.length);
      if (!gs.includes(g)) gs.push(g);
    }
    const [adj, noun] = WORDS[genres[gs[0]!]!]!;
    const base = `${rng.pick(adj)} ${rng.pick(noun)}`;
    let title = base;
    for (let k = 2; titles.has(title); k++) title = `${base} ${k}`;
    titles.add(title);
    const year = 1930 + rng.int(70);
    items.push({ genres: gs, quality: 0.35 * rng.normal(), pop: 0, title: `${title} (${year})` });
  }
  const perm = rng.shuffle(items.map((_, i) => i));
  perm.forEach((i, rank) => (items[i]!.pop = 1 / Math.pow(rank + 3, 0.7)));
  const popTotal = items.reduce((a, it) => a + it.pop, 0);

  const users: { favourites: number[]; bias: number; line: string }[] = [];
  const ratingLines: string[] = [];
  const rated = new Uint8Array(nItems);
  const t0 = 956_703_932;
  for (let u = 0; u < nUsers; u++) {
    const favourites = rng.shuffle(genres.map((_, g) => g)).slice(0, nFav);
    const bias = biasSd * rng.normal();
    users.push({ favourites, bias, line: `${u + 1}::${rng.next() < 0.5 ? 'M' : 'F'}::25::${rng.int(21)}::${10000 + rng.int(89999)}` });
    const n = minN + rng.int(maxN - minN + 1);
    // Popularity only: the taste never decides what is watched, so the window cannot read it off
    // the titles, only off their ratings.
    const weights = items.map((it) => it.pop);
    let total = popTotal;
    let t = t0 + rng.int(200 * 86400);
    for (let k = 0; k < n; k++) {
      const i = weightedIndex(rng, weights, total);
      total -= weights[i]!;
      weights[i] = 0;
      const it = items[i]!;
      const match = it.genres.some((g) => favourites.includes(g)) ? 1 : 0;
      const score = 2.9 + bias + it.quality + effect * match + 0.6 * rng.normal();
      const rating = Math.max(1, Math.min(5, Math.round(score)));
      t += 60 + rng.int(3 * 86400);
      ratingLines.push(`${u + 1}::${i + 1}::${rating}::${t}`);
      rated[i] = 1;
    }
  }

  // Oracle texts, then the control: the same texts under a random permutation of the entities.
  const userRows = users.map((u, k) => ({ entityId: String(k + 1), texts: [userText(rng, u.favourites.map((g) => genres[g]!))] }));
  const itemRows = items.flatMap((it, k) => (rated[k] ? [{ entityId: String(k + 1), texts: [itemText(rng, it.title, it.genres.map((g) => genres[g]!))] }] : []));
  const shuffledOf = (rows: Array<{ entityId: string; texts: string[] }>) => {
    const texts = rng.shuffle(rows.map((r) => r.texts));
    return rows.map((r, k) => ({ entityId: r.entityId, texts: texts[k]! }));
  };

  const truth: PlantedTruth = {
    generator: 'r4ec synthesizePlanted',
    seed: opts.seed,
    genres,
    users: users.map((u, k) => ({ user: String(k + 1), favourites: u.favourites.map((g) => genres[g]!), bias: round4(u.bias) })),
    items: items.map((it, k) => ({ item: String(k + 1), genres: it.genres.map((g) => genres[g]!), quality: round4(it.quality) })),
  };

  const tmp = `${opts.outDir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp, { recursive: true });
  try {
    await writeMovieLensFiles(tmp, genres, items, users, ratingLines);
    const sets: Record<PlantedSet, [typeof userRows, typeof itemRows]> = {
      oracle: [userRows, itemRows],
      shuffled: [shuffledOf(userRows), shuffledOf(itemRows)],
    };
    for (const set of PLANTED_SETS) {
      await mkdir(join(tmp, 'knowledge', set), { recursive: true });
      await writeFile(join(tmp, 'knowledge', set, 'user.jsonl'), jsonl(sets[set][0]));
      await writeFile(join(tmp, 'knowledge', set, 'item.jsonl'), jsonl(sets[set][1]));
    }
    await writeFile(join(tmp, SYNTH_MARKER), JSON.stringify(truth) + '\n');
    await mkdir(opts.outDir, { recursive: true });
    await rm(join(opts.outDir, SYNTH_MARKER), { force: true });
    await rm(join(opts.outDir, 'knowledge'), { recursive: true, force: true });
    // The marker goes last, so a reader that finds it finds the other files complete.
    for (const f of ['movies.dat', 'users.dat', 'ratings.dat', 'knowledge', SYNTH_MARKER]) await rename(join(tmp, f), join(opts.outDir, f));
    return { outDir: opts.outDir, users: nUsers, items: nItems, ratings: ratingLines.length, knowledgeDir: join(opts.outDir, 'knowledge') };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

function round4(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
