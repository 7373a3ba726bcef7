// Amazon-Books (2018 release): Books_5.json.gz reviews + meta_Books.json.gz, both one JSON object
// per line and streamed. Rules read from the authors' preprocess_amz.py: reviews without `overall`
// are dropped; the maximal (60 users, 40 items) k-core is kept; items without metadata are then
// removed (without re-running the core); category = the first sub-category under "Books", else
// "unknown category"; label = rating > 4.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { applyDuplicatePolicy, type DuplicatePolicy } from './duplicates';
import { DataError } from './errors';
import { forEachLine } from './lines';
import { InteractionColumns, ItemInfo, RawDataset } from './raw';

export interface AmazonFiles {
  reviews: string;
  meta: string;
}

export async function resolveAmazonFiles(dir: string, reviewsFile?: string): Promise<AmazonFiles> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    throw new DataError(dir, 0, 'dataset.path', 'a directory with Books_5.json.gz and meta_Books.json.gz', 'no such directory');
  }
  const one = (role: string, preferred: string[], pattern: RegExp): string => {
    for (const p of preferred) if (names.includes(p)) return join(dir, p);
    const found = names.filter((n) => pattern.test(n)).sort();
    if (found.length !== 1) {
      throw new DataError(join(dir, preferred[0]!), 0, role, `exactly one ${preferred.join(' or ')} in ${dir}`, found.length ? found.join(', ') : 'not found');
    }
    return join(dir, found[0]!);
  };
  let reviews: string;
  if (reviewsFile) {
    if (!names.includes(reviewsFile)) throw new DataError(join(dir, reviewsFile), 0, 'dataset.ratingsFile', 'an existing file', 'not found');
    reviews = join(dir, reviewsFile);
  } else reviews = one('reviews', ['Books_5.json.gz', 'Books_5.json'], /^[A-Za-z_]+_5\.json(\.gz)?$/);
  return { reviews, meta: one('meta', ['meta_Books.json.gz', 'meta_Books.json'], /^meta_.*\.json(\.gz)?$/) };
}

export interface AmazonOptions {
  userCore: number;
  itemCore: number;
  /** Repeated (reviewerID, asin, unixReviewTime) reviews: an error (default) or dropped and counted. */
  duplicates?: DuplicatePolicy;
  displayNames?: Partial<AmazonFiles>;
  onProgress?: (file: string, line: number) => void;
}

function parseJsonLine(buf: Buffer, file: string, line: number): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(buf.toString('utf8'));
  } catch {
    throw new DataError(file, line, 'json', 'one JSON object per line', buf.toString('utf8', 0, Math.min(buf.length, 80)));
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new DataError(file, line, 'json', 'a JSON object', buf.toString('utf8', 0, 80));
  return v as Record<string, unknown>;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', ndash: '-', mdash: '-', copy: '©' };

/** Cleans a title/brand the way the authors' filter does in spirit: entities, typographic quotes, whitespace, 150 chars. */
export function cleanText(s: string): string {
  let x = s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code < 0x110000 ? String.fromCodePoint(code) : m;
    }
    return ENTITIES[e.toLowerCase()] ?? m;
  });
  x = x
    .replace(/[“”″]/g, '"')
    .replace(/[‘’´]/g, "'")
    .replace(/[–—−]/g, '-')
    .replace(/…/g, '')
    .replace(/‚/g, ',')
    .replace(/【/g, '[')
    .replace(/】/g, ']')
    .replace(/\s+/g, ' ')
    .trim();
  if (x.length > 150) {
    x = x.slice(0, 150);
    const cut = x.lastIndexOf(' ');
    if (cut > 0) x = x.slice(0, cut);
    x = x.replace(/[^A-Za-z0-9]+$/, '');
  }
  return x;
}

export async function loadAmazonBooks(files: AmazonFiles, opts: AmazonOptions): Promise<RawDataset> {
  const reviewsName = opts.displayNames?.reviews ?? files.reviews;
  const metaName = opts.displayNames?.meta ?? files.meta;
  const users: string[] = [];
  const items: string[] = [];
  const userIdx = new Map<string, number>();
  const itemIdx = new Map<string, number>();
  const cols = new InteractionColumns(1 << 20);
  const str = (o: Record<string, unknown>, f: string, line: number): string => {
    const v = o[f];
    if (typeof v !== 'string' || v === '') throw new DataError(reviewsName, line, f, 'a non-empty string', JSON.stringify(v));
    return v;
  };
  await forEachLine(
    files.reviews,
    (buf, line) => {
      const o = parseJsonLine(buf, reviewsName, line);
      if (o.overall === undefined) return; // the authors drop reviews without a rating
      const overall = typeof o.overall === 'string' ? Number(o.overall) : o.overall;
      if (typeof overall !== 'number' || !Number.isInteger(overall) || overall < 1 || overall > 5) {
        throw new DataError(reviewsName, line, 'overall', 'a whole-star rating 1..5', JSON.stringify(o.overall));
      }
      const user = str(o, 'reviewerID', line);
      const asin = str(o, 'asin', line);
      const t = typeof o.unixReviewTime === 'string' ? Number(o.unixReviewTime) : o.unixReviewTime;
      if (typeof t !== 'number' || !Number.isInteger(t)) {
        throw new DataError(reviewsName, line, 'unixReviewTime', 'an integer number of seconds since the epoch', JSON.stringify(o.unixReviewTime));
      }
      let u = userIdx.get(user);
      if (u === undefined) {
        u = users.length;
        users.push(user);
        userIdx.set(user, u);
      }
      let i = itemIdx.get(asin);
      if (i === undefined) {
        i = items.length;
        items.push(asin);
        itemIdx.set(asin, i);
      }
      cols.push(u, i, overall, t, line);
    },
    { displayName: reviewsName, onProgress: (l) => opts.onProgress?.(reviewsName, l) },
  );
  if (cols.length === 0) throw new DataError(reviewsName, 0, 'file', 'at least one review with a rating', 'none');
  userIdx.clear();

  // Repeats go before the core: a review counted twice must not lift its user or item over it.
  const dups = applyDuplicatePolicy(cols, users.length, items.length, opts.duplicates ?? 'error', {
    file: reviewsName,
    field: 'reviewerID/asin/unixReviewTime',
    what: '(reviewerID, asin, unixReviewTime)',
    show: (row) => JSON.stringify({ reviewerID: users[cols.user[row]!], asin: items[cols.item[row]!], unixReviewTime: cols.ts[row] }),
  });
  const keep = kCore(cols, users.length, items.length, opts.userCore, opts.itemCore, dups.keep);
  const inCore = new Uint8Array(items.length);
  for (let r = 0; r < cols.length; r++) if (keep[r]) inCore[cols.item[r]!] = 1;

  const info: (ItemInfo | undefined)[] = new Array(items.length);
  await forEachLine(
    files.meta,
    (buf, line) => {
      // Most of the catalog is outside the core: skip those lines before parsing them.
      const m = /"asin"\s*:\s*"([^"]+)"/.exec(buf.toString('utf8', 0, Math.min(buf.length, 4096))) ?? /"asin"\s*:\s*"([^"]+)"/.exec(buf.toString('utf8'));
      if (!m) throw new DataError(metaName, line, 'asin', 'a JSON object with an "asin" string', buf.toString('utf8', 0, 80));
      const i = itemIdx.get(m[1]!);
      if (i === undefined || !inCore[i]) return;
      const o = parseJsonLine(buf, metaName, line);
      const title = cleanText(typeof o.title === 'string' ? o.title : '');
      if (title === 'EMINEM SHOW') return; // the authors drop this mislabelled record
      const cat = Array.isArray(o.category) && typeof o.category[1] === 'string' && o.category[1].trim() ? cleanText(o.category[1]) : 'unknown category';
      const brand = typeof o.brand === 'string' && cleanText(o.brand).length >= 1 ? cleanText(o.brand) : 'unknown brand';
      info[i] = { rawId: m[1]!, title: title || m[1]!, year: null, genres: [cat], category: cat, brand };
    },
    { displayName: metaName, onProgress: (l) => opts.onProgress?.(metaName, l) },
  );
  for (let r = 0; r < cols.length; r++) if (keep[r] && !info[cols.item[r]!]) keep[r] = 0;
  const catalog: ItemInfo[] = items.map((asin, i) => info[i] ?? { rawId: asin, title: asin, year: null, genres: [], category: 'unknown category' });
  return { kind: 'amazon-books', labelThreshold: 4, users, items: catalog, interactions: cols, keep, duplicatesDropped: dups.dropped };
}

/**
 * The maximal sub-dataset (of the rows `initial` keeps; default all) where every user has >=
 * userCore and every item >= itemCore interactions: repeatedly drop rows of users/items below their
 * core (each removal is forced, so the fixed point is the maximal core the authors' loop also ends at).
 */
export function kCore(cols: InteractionColumns, nUsers: number, nItems: number, userCore: number, itemCore: number, initial?: Uint8Array): Uint8Array {
  const keep = initial ? initial.slice() : new Uint8Array(cols.length).fill(1);
  const uc = new Int32Array(nUsers);
  const ic = new Int32Array(nItems);
  for (;;) {
    uc.fill(0);
    ic.fill(0);
    for (let r = 0; r < cols.length; r++) {
      if (!keep[r]) continue;
      uc[cols.user[r]!]!++;
      ic[cols.item[r]!]!++;
    }
    let changed = false;
    for (let r = 0; r < cols.length; r++) {
      if (keep[r] && (uc[cols.user[r]!]! < userCore || ic[cols.item[r]!]! < itemCore)) {
        keep[r] = 0;
        changed = true;
      }
    }
    if (!changed) return keep;
  }
}
