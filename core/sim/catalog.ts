// The simulator's world knowledge: titles, years and genres of the catalog — never ratings.
// Accepts a JSON list of {id, title, year, genres} or a dataset meta.json ({ items: [...] }), with
// genres as a list or a "A|B" string (falling back to categoryName / category).
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { R4ecError } from '../errors';

export interface CatalogItem {
  id: string;
  title: string;
  year: number | null;
  genres: string[];
}

const RawItem = z
  .object({
    id: z.union([z.string(), z.number()]).optional(),
    title: z.string().min(1),
    year: z.union([z.number(), z.string(), z.null()]).optional(),
    genres: z.union([z.array(z.string()), z.string()]).optional(),
    categoryName: z.string().optional(),
    category: z.union([z.string(), z.number()]).optional(),
  })
  .passthrough();

export class CatalogError extends R4ecError {
  constructor(message: string) {
    super(message, 'CatalogError');
    this.name = 'CatalogError';
  }
}

function normTitle(t: string): string {
  return t.toLowerCase().replace(/\s+/g, ' ').trim();
}

/** "Heat (1995)": the title with its year, unless the title already ends with one. */
export function displayTitle(item: Pick<CatalogItem, 'title' | 'year'>): string {
  if (item.year === null || /\(\d{4}\)\s*$/.test(item.title)) return item.title;
  return `${item.title} (${item.year})`;
}

export class Catalog {
  private readonly byTitle = new Map<string, CatalogItem>();
  readonly items: readonly CatalogItem[];
  readonly genres: ReadonlySet<string>;

  constructor(items: CatalogItem[]) {
    this.items = items;
    const genres = new Set<string>();
    for (const it of items) {
      for (const g of it.genres) genres.add(g);
      for (const key of [it.title, displayTitle(it), it.title.replace(/\s*\(\d{4}\)\s*$/, '')]) {
        const k = normTitle(key);
        if (!this.byTitle.has(k)) this.byTitle.set(k, it);
      }
    }
    this.genres = genres;
  }

  get size(): number {
    return this.items.length;
  }

  lookup(title: string): CatalogItem | undefined {
    return this.byTitle.get(normTitle(title));
  }
}

/** Builds a catalog from parsed JSON; `source` names the file in errors. */
export function parseCatalog(json: unknown, source: string): Catalog {
  const list = Array.isArray(json) ? json : json && typeof json === 'object' && Array.isArray((json as { items?: unknown }).items) ? (json as { items: unknown[] }).items : undefined;
  if (!list) throw new CatalogError(`${source}: expected a JSON list of {id, title, year, genres} or a dataset meta.json with "items"`);
  const items: CatalogItem[] = [];
  list.forEach((raw, i) => {
    const r = RawItem.safeParse(raw);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new CatalogError(`${source}: item ${i} field "${issue.path.join('.') || '(item)'}": ${issue.message}`);
    }
    const it = r.data;
    let genres: string[] = typeof it.genres === 'string' ? it.genres.split('|') : (it.genres ?? []);
    genres = genres.map((g) => g.trim()).filter(Boolean);
    if (genres.length === 0) {
      const cat = it.categoryName ?? (typeof it.category === 'string' ? it.category : undefined);
      if (cat) genres = [cat];
    }
    const yearRaw = it.year ?? /\((\d{4})\)\s*$/.exec(it.title)?.[1] ?? null;
    const year = yearRaw === null || yearRaw === '' ? null : Number(yearRaw);
    items.push({ id: String(it.id ?? i + 1), title: it.title, year: Number.isFinite(year) ? year : null, genres });
  });
  return new Catalog(items);
}

export async function loadCatalog(path: string): Promise<Catalog> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new CatalogError(`cannot read catalog ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CatalogError(`${path}: not JSON (${(e as Error).message})`);
  }
  return parseCatalog(json, path);
}
