// A tiny MovieLens-format data set written by hand (not by the generator), for loader tests.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore } from '../../core/store';
import { DatasetSchema } from '../../config/schema';
import type { IngestDatasetConfig } from '../../core/data/ingest';

export const ACCENTED_TITLES: Record<number, string> = {
  7: 'Misérables, Les (1995)',
  8: 'Metisse (Café au Lait) (1993)',
  9: 'Slingshot, The (Kådisbellan ) (1993)',
};

export function movieLines(): string[] {
  const genres = ['Drama', 'Comedy|Romance', "Children's|Animation", 'Sci-Fi|Action|Thriller'];
  return Array.from({ length: 30 }, (_, j) => {
    const id = j + 1;
    return `${id}::${ACCENTED_TITLES[id] ?? `Movie Number ${id} (19${60 + j})`}::${genres[j % genres.length]}`;
  });
}

export function userLines(): string[] {
  return ['1::F::1::10::48067', '2::M::56::16::70072', '3::M::25::15::55117'];
}

/** 3 users x 25 ratings, user-grouped, not time-sorted within a user. */
export function ratingLines(): string[] {
  const out: string[] = [];
  for (let u = 1; u <= 3; u++) {
    for (let j = 0; j < 25; j++) {
      const item = ((j * 7 + u * 3) % 30) + 1;
      out.push(`${u}::${item}::${((item + u) % 5) + 1}::${978300000 + ((j * 37) % 25) * 60 + u}`);
    }
  }
  return out;
}

export interface Fixture {
  root: string;
  dir: string;
  store: LocalStore;
  write(name: string, data: string | Buffer): void;
  cleanup(): void;
}

export function makeFixture(opts: { ratings?: string[]; movies?: string[]; users?: string[] } = {}): Fixture {
  const root = mkdtempSync(join(tmpdir(), 'r4ec-data-'));
  const dir = join(root, 'ml');
  const store = new LocalStore(join(root, 'store'));
  const write = (name: string, data: string | Buffer) => writeFileSync(join(dir, name), data);
  mkdirSync(dir, { recursive: true });
  write('movies.dat', Buffer.from((opts.movies ?? movieLines()).join('\n') + '\n', 'latin1'));
  write('users.dat', (opts.users ?? userLines()).join('\n') + '\n');
  write('ratings.dat', (opts.ratings ?? ratingLines()).join('\n') + '\n');
  return { root, dir, store, write, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export function mlConfig(overrides: Partial<IngestDatasetConfig> = {}): IngestDatasetConfig {
  return { ...DatasetSchema.parse({ kind: 'ml-1m' }), ...overrides };
}
