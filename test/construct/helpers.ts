// Shared by the construct tests: reading a stage output, and the no-leakage check over a stage output (every history entry and target shown is a training-part
// interaction of the user the manifest names; none is a test-part one).
import assert from 'node:assert/strict';
import { DATASET_FILES, ManifestLineSchema, MANIFEST_FILE, type ManifestLine } from '../../core/construct';
import { loadDataset, type DatasetMeta, type Sequences } from '../../core/data';
import { SftRecordSchema, type SftRecord } from '../../core/prompts/sft';
import { readHistory, type HistoryEntry } from '../../core/prompts/history';
import type { ArtifactStore } from '../../core/store';

export async function readJsonl<T>(store: ArtifactStore, key: string, parse: (v: unknown) => T): Promise<T[]> {
  const text = (await store.get(key)).toString('utf8');
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => parse(JSON.parse(l)));
}

export interface ConstructOutputFiles {
  manifest: ManifestLine[];
  records: Record<'reason' | 'reflect' | 'refine', SftRecord[]>;
}

export async function readOutput(store: ArtifactStore, key: string): Promise<ConstructOutputFiles> {
  const rec = (d: 'reason' | 'reflect' | 'refine') => readJsonl(store, `${key}/${DATASET_FILES[d]}`, (v) => SftRecordSchema.parse(v));
  return {
    manifest: await readJsonl(store, `${key}/${MANIFEST_FILE}`, (v) => ManifestLineSchema.parse(v)),
    records: { reason: await rec('reason'), reflect: await rec('reflect'), refine: await rec('refine') },
  };
}

/** The (title, rating) pairs of a user's training part and test part. */
export class SplitIndex {
  constructor(
    readonly meta: DatasetMeta,
    readonly seq: Sequences,
  ) {}
  static async load(store: ArtifactStore, key: string): Promise<SplitIndex> {
    const v = await loadDataset(store, key);
    return new SplitIndex(v.meta, await v.sequences());
  }
  private title(item: number): string {
    const it = this.meta.items[item - 1]!;
    return it.year === null || /\(\d{4}\)\s*$/.test(it.title) ? it.title : `${it.title} (${it.year})`;
  }
  parts(user: number): { train: Set<string>; test: Set<string> } {
    const base = this.seq.offsets[user]!;
    const n = this.seq.offsets[user + 1]! - base;
    const train = new Set<string>();
    const test = new Set<string>();
    for (let p = 0; p < n; p++) (p < this.seq.trainEnd[user]! ? train : test).add(`${this.title(this.seq.item[base + p]!)}|${this.seq.rating[base + p]}`);
    return { train, test };
  }
  /** Asserts every entry is a training-part interaction of `user` and none a test-part one. */
  assertTraining(entries: readonly HistoryEntry[] | null, user: number | undefined, where: string): number {
    if (entries === null || entries.length === 0) return 0;
    assert.notEqual(user, undefined, `${where}: a history without a provenance user`);
    const { train, test } = this.parts(user!);
    for (const e of entries) {
      const k = `${e.title}|${e.rating}`;
      assert.ok(!test.has(k) || train.has(k), `${where}: ${k} is a test-split interaction of user ${user}`);
      assert.ok(train.has(k), `${where}: ${k} is not a training interaction of user ${user}`);
    }
    return entries.length;
  }
}

/** The content of every `<TAG>…</TAG>` section of a prompt. */
export function sections(text: string, tag: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g');
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) out.push(m[1]!);
  return out;
}

/** Checks one prompt's histories against the provenance; returns the number of entries checked. */
export function checkPromptHistories(idx: SplitIndex, text: string, prov: ManifestLine['provenance'], domain: 'user' | 'item', where: string): number {
  let n = 0;
  for (const s of sections(text, 'User History')) n += idx.assertTraining(readHistory(s), prov.history.user, `${where} <User History>`);
  for (const s of sections(text, 'Target User History')) n += idx.assertTraining(readHistory(s), prov.history.user, `${where} <Target User History>`);
  for (const s of sections(text, 'Like User History')) n += idx.assertTraining(readHistory(s), prov.like?.user, `${where} <Like User History>`);
  for (const s of sections(text, 'Dislike User History')) n += idx.assertTraining(readHistory(s), prov.dislike?.user, `${where} <Dislike User History>`);
  if (domain === 'user') assert.ok(sections(text, 'User History').length > 0 || text.includes('(no history)'), `${where}: no user history section`);
  return n;
}
