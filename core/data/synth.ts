// A small MovieLens-format data set with planted structure, for the quick start and tests.
// Each user likes a few genres and dislikes a few; a rating is user bias + genre affinity + item
// quality + noise, and titles are built from genre-typed words. So the signal lives in genres and
// titles: a model that reads them can generalise to items whose ids it has barely seen.
// Deterministic for a seed (own PRNG, no Math.random, fixed iteration order).
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ML_GENRES } from './movielens';

export interface SynthOptions {
  outDir: string;
  seed: number;
  users?: number;
  items?: number;
  /**
   * How strongly taste decides what a user watches: item weight = popularity × exp(tilt × affinity).
   * High (the default) fills every history window with the user's liked genres; 0 makes what is
   * watched independent of taste, so only the ratings show it.
   */
  tilt?: number;
}

export interface SynthResult {
  outDir: string;
  users: number;
  items: number;
  ratings: number;
  files: string[];
}

export const SYNTH_DEFAULTS = { seed: 1, users: 300, items: 400, tilt: 0.9 } as const;
/** Written last: its presence means the data set is complete. */
export const SYNTH_MARKER = 'synth.json';

/** sfc32 seeded through splitmix32: small, fast, and identical on every platform. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    let s = seed >>> 0;
    const mix = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = mix();
    this.b = mix();
    this.c = mix();
    this.d = mix();
    for (let i = 0; i < 12; i++) this.next();
  }
  next(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    }
    return xs;
  }
}

type Genre = (typeof ML_GENRES)[number];

// Title words typed by genre, so a title alone hints at its genres.
export const WORDS: Record<Genre, [string[], string[]]> = {
  Action: [['Hard', 'Lethal', 'Maximum', 'Rapid', 'Iron'], ['Strike', 'Force', 'Target', 'Pursuit', 'Fury']],
  Adventure: [['Lost', 'Hidden', 'Far', 'Wild', 'Golden'], ['Expedition', 'Island', 'Treasure', 'Voyage', 'Quest']],
  Animation: [['Little', 'Magic', 'Tiny', 'Happy', 'Painted'], ['Toys', 'Bunny', 'Cartoon', 'Kingdom', 'Critters']],
  "Children's": [['Friendly', 'Sunny', 'Brave', 'Lucky', 'Giggly'], ['Puppy', 'Playground', 'Pony', 'Club', 'Summer Camp']],
  Comedy: [['Crazy', 'Silly', 'Awkward', 'Wacky', 'Goofy'], ['Wedding', 'Roommates', 'Vacation', 'Party', 'Mix-Up']],
  Crime: [['Dirty', 'Dead', 'Cold', 'Stolen', 'Crooked'], ['Heist', 'Money', 'Cops', 'Alibi', 'Racket']],
  Documentary: [['True', 'Real', 'Inside', 'Untold', 'Secret'], ['Story', 'Lives', 'Archive', 'Record', 'Chronicle']],
  Drama: [['Quiet', 'Broken', 'Distant', 'Last', 'Bitter'], ['Years', 'Letters', 'Promise', 'Homecoming', 'Silence']],
  Fantasy: [['Enchanted', 'Elven', 'Mystic', 'Crystal', 'Dragon'], ['Realm', 'Sword', 'Spell', 'Throne', 'Prophecy']],
  'Film-Noir': [['Black', 'Shadowed', 'Smoky', 'Double', 'Midnight'], ['Dame', 'Detective', 'Alley', 'Cross', 'Street']],
  Horror: [['Bloody', 'Haunted', 'Cursed', 'Rotten', 'Screaming'], ['Night', 'Cellar', 'Graveyard', 'Possession', 'Massacre']],
  Musical: [['Singing', 'Dancing', 'Swinging', 'Jazzy', 'Rhythmic'], ['Melody', 'Broadway', 'Serenade', 'Chorus', 'Ballroom']],
  Mystery: [['Vanishing', 'Missing', 'Strange', 'Secret', 'Curious'], ['Clue', 'Riddle', 'Manor', 'Case', 'Puzzle']],
  Romance: [['Sweet', 'Tender', 'Lovesick', 'Starry', 'Eternal'], ['Kiss', 'Heart', 'Valentine', 'Romance', 'Honeymoon']],
  'Sci-Fi': [['Galactic', 'Cyber', 'Orbital', 'Quantum', 'Alien'], ['Planet', 'Android', 'Starship', 'Colony', 'Future']],
  Thriller: [['Deadly', 'Silent', 'Final', 'Dangerous', 'Fatal'], ['Hostage', 'Conspiracy', 'Countdown', 'Witness', 'Trap']],
  War: [['Burning', 'Bloody', 'Fallen', 'Steel', 'Forgotten'], ['Battalion', 'Front', 'Trenches', 'Beachhead', 'Platoon']],
  Western: [['Dusty', 'Lonesome', 'Outlaw', 'Rawhide', 'Frontier'], ['Saloon', 'Gunslinger', 'Ranch', 'Canyon', 'Sheriff']],
};
// ISO-8859-1 words (accents must survive ingest end to end).
const ACCENTED = ['Café', 'Amélie', 'Señor', 'Garçon', 'Noël', 'Fête', 'Mañana', 'Crème', 'Niño', 'Déjà Vu', 'Ærø', 'Über Alles', 'Château', 'Müller'];
const GENRE_WEIGHT: Partial<Record<Genre, number>> = { Drama: 3, Comedy: 3, Action: 2, Thriller: 2, Romance: 1.5 };
const AGES = [1, 18, 25, 35, 45, 50, 56];

export function weightedIndex(rng: Rng, weights: readonly number[], total: number): number {
  let x = rng.next() * total;
  for (let i = 0; i < weights.length; i++) {
    x -= weights[i]!;
    if (x < 0) return i;
  }
  return weights.length - 1;
}

export async function synthesizeDataset(opts: SynthOptions): Promise<SynthResult> {
  const nUsers = opts.users ?? SYNTH_DEFAULTS.users;
  const nItems = opts.items ?? SYNTH_DEFAULTS.items;
  const tilt = opts.tilt ?? SYNTH_DEFAULTS.tilt;
  if (!Number.isInteger(nUsers) || nUsers < 1 || !Number.isInteger(nItems) || nItems < 60) {
    throw new RangeError(`synthesizeDataset: need users >= 1 and items >= 60 (got ${nUsers}, ${nItems})`);
  }
  const rng = new Rng(opts.seed);
  const genres = [...ML_GENRES];
  const gw = genres.map((g) => GENRE_WEIGHT[g] ?? 1);
  const gwTotal = gw.reduce((a, b) => a + b, 0);

  // Items: genres (1-3), latent quality, popularity, a genre-typed title.
  const items: { genres: number[]; quality: number; pop: number; title: string }[] = [];
  const titles = new Set<string>();
  for (let i = 0; i < nItems; i++) {
    const g0 = weightedIndex(rng, gw, gwTotal);
    const gs = [g0];
    const extra = rng.next() < 0.5 ? (rng.next() < 0.3 ? 2 : 1) : 0;
    while (gs.length < 1 + extra) {
      const g = weightedIndex(rng, gw, gwTotal);
      if (!gs.includes(g)) gs.push(g);
    }
    const [adj, noun] = WORDS[genres[g0]!];
    const second = gs[1] !== undefined ? WORDS[genres[gs[1]]!][1] : null;
    let base = rng.next() < 0.06 ? `${rng.pick(ACCENTED)} ${rng.pick(noun)}` : `${rng.pick(adj)} ${rng.pick(noun)}`;
    if (second && rng.next() < 0.5) base = `${base} and the ${rng.pick(second)}`;
    if (rng.next() < 0.15) base = `The ${base}`;
    let title = base;
    for (let k = 2; titles.has(title); k++) title = `${base} ${k === 2 ? 'II' : k === 3 ? 'III' : String(k)}`;
    titles.add(title);
    const year = 1930 + Math.min(70, Math.floor(70 * Math.sqrt(rng.next())));
    items.push({ genres: gs, quality: 0.45 * rng.normal(), pop: 0, title: `${title} (${year})` });
  }
  // Zipf-like popularity over a random permutation.
  const perm = rng.shuffle(items.map((_, i) => i));
  perm.forEach((i, rank) => (items[i]!.pop = 1 / Math.pow(rank + 3, 0.7)));

  // Users: demographic fields, a bias, liked and disliked genres.
  const users: { likes: number[]; dislikes: number[]; affinity: Float64Array; bias: number; n: number; line: string }[] = [];
  for (let u = 0; u < nUsers; u++) {
    const order = rng.shuffle(genres.map((_, g) => g));
    const likes = order.slice(0, 2 + rng.int(2));
    const dislikes = order.slice(likes.length, likes.length + 1 + rng.int(2));
    const affinity = new Float64Array(genres.length);
    for (let g = 0; g < genres.length; g++) affinity[g] = 0.15 * rng.normal();
    for (const g of likes) affinity[g] = 1.1 + 0.5 * rng.next();
    for (const g of dislikes) affinity[g] = -1.1 - 0.5 * rng.next();
    const n = Math.min(150, 20 + Math.floor(-Math.log(1 - rng.next()) * 35));
    const zip = String(10000 + rng.int(89999));
    const line = `${u + 1}::${rng.next() < 0.5 ? 'M' : 'F'}::${rng.pick(AGES)}::${rng.int(21)}::${zip}`;
    users.push({ likes, dislikes, affinity, bias: 0.3 * rng.normal(), n, line });
  }

  // Ratings: each user watches n distinct items, drawn by popularity tilted towards liked genres;
  // timestamps increase with occasional exact ties; lines are written in a shuffled order per
  // user (as in MovieLens), so the split's stable sort matters.
  const ratingLines: string[] = [];
  const t0 = 956_703_932; // 2000-04-25, MovieLens-1M's first day
  const affinityOf = (u: (typeof users)[number], it: (typeof items)[number]) =>
    it.genres.reduce((a, g, j) => a + u.affinity[g]! * (j === 0 ? 1 : 0.5), 0) / (it.genres.length === 1 ? 1 : 1 + 0.5 * (it.genres.length - 1));
  for (let u = 0; u < nUsers; u++) {
    const user = users[u]!;
    const weights = items.map((it) => it.pop * Math.exp(tilt * affinityOf(user, it)));
    let total = weights.reduce((a, b) => a + b, 0);
    const chosen: number[] = [];
    for (let k = 0; k < user.n && k < nItems; k++) {
      const i = weightedIndex(rng, weights, total);
      chosen.push(i);
      total -= weights[i]!;
      weights[i] = 0;
    }
    let t = t0 + rng.int(200 * 86400);
    const lines: string[] = [];
    for (const i of chosen) {
      if (rng.next() >= 0.1) t += 60 + Math.floor(-Math.log(1 - rng.next()) * 2 * 86400);
      const it = items[i]!;
      const score = 3.35 + user.bias + 1.1 * affinityOf(user, it) + it.quality + 0.7 * rng.normal();
      const rating = Math.max(1, Math.min(5, Math.round(score)));
      lines.push(`${u + 1}::${i + 1}::${rating}::${t}`);
    }
    ratingLines.push(...rng.shuffle(lines));
  }

  const tmp = `${opts.outDir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp, { recursive: true });
  try {
    await writeMovieLensFiles(tmp, genres, items, users, ratingLines);
    const truth = {
      generator: 'r4ec synthesizeDataset',
      seed: opts.seed,
      users: nUsers,
      items: nItems,
      ratings: ratingLines.length,
      note: 'Planted preferences (for checks only; ingest never reads this file).',
      preferences: users.map((u, i) => ({ user: String(i + 1), likes: u.likes.map((g) => genres[g]), dislikes: u.dislikes.map((g) => genres[g]) })),
    };
    await writeFile(join(tmp, SYNTH_MARKER), JSON.stringify(truth, null, 1) + '\n');
    await mkdir(opts.outDir, { recursive: true });
    const files = ['movies.dat', 'users.dat', 'ratings.dat', SYNTH_MARKER];
    // The marker goes last, so a reader that finds it finds the other files complete.
    await rm(join(opts.outDir, SYNTH_MARKER), { force: true });
    for (const f of files) await rename(join(tmp, f), join(opts.outDir, f));
    return { outDir: opts.outDir, users: nUsers, items: nItems, ratings: ratingLines.length, files };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** The MovieLens-1M files of a synthetic set (`::`-separated; movies.dat in Latin-1, as GroupLens ships it). */
export async function writeMovieLensFiles(
  dir: string,
  genres: readonly string[],
  items: readonly { title: string; genres: readonly number[] }[],
  users: readonly { line: string }[],
  ratingLines: readonly string[],
): Promise<void> {
  const movies = items.map((it, i) => `${i + 1}::${it.title}::${it.genres.map((g) => genres[g]).join('|')}\n`).join('');
  await writeFile(join(dir, 'movies.dat'), Buffer.from(movies, 'latin1'));
  await writeFile(join(dir, 'users.dat'), users.map((u) => `${u.line}\n`).join(''));
  await writeFile(join(dir, 'ratings.dat'), ratingLines.map((l) => `${l}\n`).join(''));
}
