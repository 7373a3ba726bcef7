// MovieLens-1M (and the synthetic data, which uses the same format): '::'-separated ratings.dat,
// movies.dat (ISO-8859-1: accented titles must survive) and users.dat; each may be gzipped.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { applyDuplicatePolicy, type DuplicatePolicy } from './duplicates';
import { DataError } from './errors';
import { forEachLine, LineReadOptions } from './lines';
import { InteractionColumns, ItemInfo, RawDataset, UserAttributes } from './raw';

export const ML_GENRES = [
  'Action',
  'Adventure',
  'Animation',
  "Children's",
  'Comedy',
  'Crime',
  'Documentary',
  'Drama',
  'Fantasy',
  'Film-Noir',
  'Horror',
  'Musical',
  'Mystery',
  'Romance',
  'Sci-Fi',
  'Thriller',
  'War',
  'Western',
] as const;

export interface MovieLensFiles {
  ratings: string;
  movies: string;
  users: string;
}

/** Finds the three files in `dir`: `ratingsFile` if given, else ratings.dat[.gz], else the single ratings*.dat[.gz]. */
export async function resolveMovieLensFiles(dir: string, ratingsFile?: string): Promise<MovieLensFiles> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    throw new DataError(dir, 0, 'dataset.path', 'a directory with ratings.dat, movies.dat and users.dat', 'no such directory');
  }
  const pick = (role: string, candidates: string[]): string => {
    for (const c of candidates) if (names.includes(c)) return join(dir, c);
    throw new DataError(join(dir, candidates[0]!), 0, role, `a ${role} file (${candidates.join(' or ')}) in ${dir}`, 'not found');
  };
  let ratings: string;
  if (ratingsFile) {
    if (!names.includes(ratingsFile)) throw new DataError(join(dir, ratingsFile), 0, 'dataset.ratingsFile', 'an existing file', 'not found');
    ratings = join(dir, ratingsFile);
  } else if (names.includes('ratings.dat') || names.includes('ratings.dat.gz')) {
    ratings = pick('ratings', ['ratings.dat', 'ratings.dat.gz']);
  } else {
    const found = names.filter((n) => /^ratings.*\.dat(\.gz)?$/.test(n)).sort();
    if (found.length !== 1) {
      throw new DataError(
        join(dir, 'ratings.dat'),
        0,
        'ratings',
        found.length === 0 ? 'ratings.dat or ratings.dat.gz' : 'exactly one ratings*.dat[.gz] (set dataset.ratingsFile to choose)',
        found.length === 0 ? 'not found' : found.join(', '),
      );
    }
    ratings = join(dir, found[0]!);
  }
  return { ratings, movies: pick('movies', ['movies.dat', 'movies.dat.gz']), users: pick('users', ['users.dat', 'users.dat.gz']) };
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/**
 * UTF-8 bytes read as ISO-8859-1: a lead character (Â..ô) followed by continuation characters
 * (U+00A0..U+00BF), e.g. "Ã©" for "é". Real ISO-8859-1 text (the ML-1M titles) has none: an
 * accented capital is followed by a letter, not by a symbol from that range.
 */
const MOJIBAKE = /[\u00C2-\u00DF][\u00A0-\u00BF]|[\u00E0-\u00EF][\u00A0-\u00BF]{2}|[\u00F0-\u00F4][\u00A0-\u00BF]{3}/;

/** What a reader learned about its file so far. */
export interface EncodingState {
  /** A line held ISO-8859-1 accents that are not UTF-8: the file is ISO-8859-1. */
  latin1Seen: boolean;
}

/**
 * ISO-8859-1 decodes any byte, so a wrongly encoded file shows up as text that is valid UTF-8 with
 * multi-byte sequences (a UTF-8 export), NUL bytes (UTF-16), C1 control characters (Windows-1252)
 * or UTF-8 byte sequences in a file that is otherwise ISO-8859-1 (text converted to UTF-8 on its way
 * in: "Ã©" where "é" belongs). `fieldNames` ('::'-separated fields) lets that last case name the
 * field; `state`, shared across a file's lines, tells it from a file that is UTF-8 throughout.
 */
export function decodeLatin1Line(buf: Buffer, file: string, line: number, fieldNames?: readonly string[], state?: EncodingState): string {
  let high = false;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!;
    if (b === 0) throw new DataError(file, line, 'encoding', 'ISO-8859-1 text', 'a NUL byte (UTF-16?)', { suggestion: 'the file looks like UTF-16: convert it to ISO-8859-1 (iconv -f UTF-16 -t ISO-8859-1)' });
    if (b >= 0x80) high = true;
  }
  const text = buf.toString('latin1');
  if (!high) return text;
  let utf8: string | undefined;
  try {
    utf8 = utf8Strict.decode(buf);
  } catch {
    utf8 = undefined;
  }
  if (utf8 !== undefined && !state?.latin1Seen) {
    // If that UTF-8 itself spells mojibake, the text was converted twice.
    if (MOJIBAKE.test(utf8)) {
      throw new DataError(file, line, 'encoding', 'ISO-8859-1 text', `UTF-8 text encoded twice "${utf8}"`, {
        suggestion: 'the text was converted to UTF-8 twice: undo both conversions (iconv -f UTF-8 -t ISO-8859-1, applied twice)',
      });
    }
    throw new DataError(file, line, 'encoding', 'ISO-8859-1 text', `UTF-8 text "${utf8}"`, {
      suggestion: 'if the whole file is UTF-8, convert it to ISO-8859-1 (iconv -f UTF-8 -t ISO-8859-1); if only some lines are, fix those lines',
    });
  }
  // The UTF-8 sequence in a line of an ISO-8859-1 file: a whole line of it, or beside real accents.
  let bad: { at: number; len: number } | undefined;
  if (utf8 !== undefined) {
    const at = buf.findIndex((b) => b >= 0x80);
    bad = { at, len: buf[at]! >= 0xf0 ? 4 : buf[at]! >= 0xe0 ? 3 : 2 };
  } else {
    for (const b of buf) {
      if (b >= 0x80 && b <= 0x9f) {
        throw new DataError(file, line, 'encoding', 'ISO-8859-1 text', `control byte 0x${b.toString(16)} (Windows-1252?)`, {
          suggestion: 'the file looks like Windows-1252: convert it to ISO-8859-1 (iconv -f WINDOWS-1252 -t ISO-8859-1)',
        });
      }
    }
    const m = MOJIBAKE.exec(text);
    if (m) bad = { at: m.index, len: m[0].length };
  }
  if (bad) {
    const seq = text.slice(bad.at, bad.at + bad.len);
    const intended = Buffer.from(seq, 'latin1').toString('utf8');
    const idx = fieldNames ? text.slice(0, bad.at).split('::').length - 1 : -1;
    const field = fieldNames?.[idx] ?? 'encoding';
    const value = idx >= 0 ? text.split('::')[idx]! : text;
    const code = intended.codePointAt(0)!;
    const fix =
      intended.length === 1 && code <= 0xff
        ? `write "${intended}" as the single byte 0x${code.toString(16).toUpperCase()} (iconv -f UTF-8 -t ISO-8859-1 converts such a line)`
        : `"${intended}" has no ISO-8859-1 form: replace it`;
    throw new DataError(file, line, field, 'ISO-8859-1 text', `"${seq}" (the UTF-8 bytes of "${intended}" read as ISO-8859-1) in "${value}"`, {
      suggestion: `this text was converted to UTF-8 on its way into an ISO-8859-1 file: ${fix}`,
    });
  }
  if (state) state.latin1Seen = true;
  return text;
}

function fields(text: string, n: number, file: string, line: number, format: string): string[] {
  const parts = text.split('::');
  if (parts.length !== n) throw new DataError(file, line, 'separator', `${n} fields separated by "::" (${format})`, text);
  return parts;
}

const POS_INT = /^[1-9]\d*$/;

function positiveInt(s: string, file: string, line: number, field: string): number {
  if (!POS_INT.test(s)) throw new DataError(file, line, field, 'a positive integer', s);
  return Number(s);
}

export async function readMovies(path: string, opts: LineReadOptions = {}): Promise<ItemInfo[]> {
  const name = opts.displayName ?? path;
  const items: ItemInfo[] = [];
  const seen = new Set<string>();
  const encoding: EncodingState = { latin1Seen: false };
  await forEachLine(
    path,
    (buf, line) => {
      const text = decodeLatin1Line(buf, name, line, ['MovieID', 'Title', 'Genres'], encoding);
      const [id, title, genreField] = fields(text, 3, name, line, 'MovieID::Title::Genres');
      positiveInt(id!, name, line, 'MovieID');
      if (seen.has(id!)) throw new DataError(name, line, 'MovieID', 'a MovieID not listed before', id);
      seen.add(id!);
      if (!title!.trim()) throw new DataError(name, line, 'Title', 'a non-empty title', title);
      const genres = genreField!.split('|').map((g) => g.trim());
      if (genres.some((g) => g === '')) throw new DataError(name, line, 'Genres', 'genres separated by "|"', genreField);
      const year = /\((\d{4})\)\s*$/.exec(title!)?.[1];
      items.push({ rawId: id!, title: title!.trim(), year: year ? Number(year) : null, genres, category: genres[0]! });
    },
    { ...opts, displayName: name },
  );
  if (items.length === 0) throw new DataError(name, 0, 'file', 'at least one movie', 'an empty file');
  return items;
}

export async function readUsers(path: string, opts: LineReadOptions = {}): Promise<{ ids: string[]; attributes: UserAttributes[] }> {
  const name = opts.displayName ?? path;
  const ids: string[] = [];
  const attributes: UserAttributes[] = [];
  const seen = new Set<string>();
  const encoding: EncodingState = { latin1Seen: false };
  await forEachLine(
    path,
    (buf, line) => {
      const text = decodeLatin1Line(buf, name, line, ['UserID', 'Gender', 'Age', 'Occupation', 'Zip-code'], encoding);
      const [id, gender, age, occupation, zip] = fields(text, 5, name, line, 'UserID::Gender::Age::Occupation::Zip-code');
      positiveInt(id!, name, line, 'UserID');
      if (seen.has(id!)) throw new DataError(name, line, 'UserID', 'a UserID not listed before', id);
      seen.add(id!);
      if (gender !== 'M' && gender !== 'F') throw new DataError(name, line, 'Gender', '"M" or "F"', gender);
      if (!/^\d+$/.test(age!)) throw new DataError(name, line, 'Age', 'an integer age code', age);
      if (!/^\d+$/.test(occupation!)) throw new DataError(name, line, 'Occupation', 'an integer occupation code', occupation);
      ids.push(id!);
      attributes.push({ gender: gender!, age: Number(age), occupation: Number(occupation), zip: zip! });
    },
    { ...opts, displayName: name },
  );
  return { ids, attributes };
}

export interface MovieLensLoadOptions {
  kind?: 'ml-1m' | 'synthetic';
  /** Repeated (UserID, MovieID, Timestamp) lines: an error (default) or dropped and counted. */
  duplicates?: DuplicatePolicy;
  /** Names for error messages per file (default: the path). */
  displayNames?: Partial<MovieLensFiles>;
  onProgress?: (file: string, line: number) => void;
}

export async function loadMovieLens(files: MovieLensFiles, opts: MovieLensLoadOptions = {}): Promise<RawDataset> {
  const dn = (k: keyof MovieLensFiles) => opts.displayNames?.[k] ?? files[k];
  const progress = (k: keyof MovieLensFiles) => (line: number) => opts.onProgress?.(dn(k), line);
  const items = await readMovies(files.movies, { displayName: dn('movies'), onProgress: progress('movies') });
  const users = await readUsers(files.users, { displayName: dn('users'), onProgress: progress('users') });
  const itemIndex = new Map(items.map((it, i) => [it.rawId, i]));
  const userIndex = new Map(users.ids.map((u, i) => [u, i]));
  const cols = new InteractionColumns(1 << 20);
  const name = dn('ratings');
  await forEachLine(
    files.ratings,
    (buf, line) => {
      const text = buf.toString('latin1');
      const [u, i, r, t] = fields(text, 4, name, line, 'UserID::MovieID::Rating::Timestamp');
      const user = userIndex.get(u!);
      if (user === undefined) {
        positiveInt(u!, name, line, 'UserID');
        throw new DataError(name, line, 'UserID', `a UserID listed in ${dn('users')}`, u);
      }
      const item = itemIndex.get(i!);
      if (item === undefined) {
        positiveInt(i!, name, line, 'MovieID');
        throw new DataError(name, line, 'MovieID', `a MovieID listed in ${dn('movies')}`, i);
      }
      if (r!.length !== 1 || r! < '1' || r! > '5') throw new DataError(name, line, 'Rating', 'a whole-star rating 1..5', r);
      if (!/^-?\d+$/.test(t!)) throw new DataError(name, line, 'Timestamp', 'an integer number of seconds since the epoch', t);
      cols.push(user, item, Number(r), Number(t), line);
    },
    { displayName: name, onProgress: progress('ratings') },
  );
  if (cols.length === 0) throw new DataError(name, 0, 'file', 'at least one rating', 'an empty file');
  const { keep, dropped } = applyDuplicatePolicy(cols, users.ids.length, items.length, opts.duplicates ?? 'error', {
    file: name,
    field: 'UserID::MovieID::Timestamp',
    what: '(UserID, MovieID, Timestamp)',
    show: (row) => `${users.ids[cols.user[row]!]}::${items[cols.item[row]!]!.rawId}::${cols.rating[row]}::${cols.ts[row]}`,
  });
  return {
    kind: opts.kind ?? 'ml-1m',
    labelThreshold: 3,
    users: users.ids,
    userAttributes: users.attributes,
    items,
    interactions: cols,
    ...(keep ? { keep } : {}),
    duplicatesDropped: dropped,
  };
}
