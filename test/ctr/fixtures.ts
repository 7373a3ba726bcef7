// A store holding the shared synthetic dataset, and a hand-made encode output (knowledge vectors in
// the encode stage's format), for the train activity and workflow tests.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { KnowledgeSet } from '../../config/names';
import type { DatasetView } from '../../core/data/dataset';
import { encodeNpy } from '../../core/data/npy';
import { LocalStore, StageOutput } from '../../core/store';
import { ingestSynthetic, type Artifact } from '../helpers/dataset';

export type { Artifact };

export interface CtrFixture {
  root: string;
  stateDir: string;
  store: LocalStore;
  ingest: Artifact;
  view: DatasetView;
  cleanup(): void;
}

/** `train` config small enough for CI: a few seconds of training per model on one core. */
export const SMALL_TRAIN = { epochs: 2, patience: 2, batchSize: 64, learningRate: 0.01, embeddingDim: 8, mlp: [16], connector: [16], threads: 1 };

export const VENV_PYTHON = resolve(__dirname, '..', '..', '.tools', 'venv', 'bin', 'python');

/** For `describe(name, { skip: skipWithoutTrainer() })`: the trainer needs the Python venv. */
export function skipWithoutTrainer(): string | false {
  return existsSync(VENV_PYTHON) ? false : `the Python trainer venv is missing at ${VENV_PYTHON} (run scripts/setup.sh)`;
}

export async function makeCtrFixture(opts: { users?: number; items?: number; seed?: number } = {}): Promise<CtrFixture> {
  const root = mkdtempSync(join(tmpdir(), 'r4ec-ctr-'));
  const store = new LocalStore(join(root, 'store'));
  const data = await ingestSynthetic(store, { users: opts.users ?? 40, items: opts.items ?? 60, seed: opts.seed ?? 3 });
  return { root, stateDir: join(root, 'state'), store, ...data, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** Vectors for every user and item (row 0 of items = padding zeros), deterministic per set. */
export async function writeFakeEncode(
  f: CtrFixture,
  opts: { sets?: KnowledgeSet[]; dim?: number; tag?: string; corrupt?: (set: KnowledgeSet, user: Float32Array, item: Float32Array) => void } = {},
): Promise<Artifact> {
  const dim = opts.dim ?? 8;
  const users = f.view.meta.users;
  const items = f.view.meta.items;
  const out = new StageOutput(f.store, `encode/fake-${opts.tag ?? 'a'}`);
  let s = 12345;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  for (const set of opts.sets ?? ['kar']) {
    const u = Float32Array.from({ length: users.length * dim }, rand);
    const it = Float32Array.from({ length: (items.length + 1) * dim }, (_, i) => (i < dim ? 0 : rand()));
    opts.corrupt?.(set, u, it);
    await out.put(`${set}/user.npy`, encodeNpy(u, [users.length, dim]));
    await out.put(`${set}/item.npy`, encodeNpy(it, [items.length + 1, dim]));
    await out.putJson(`${set}/user.ids.json`, users);
    await out.putJson(`${set}/item.ids.json`, [null, ...items.map((i) => i.id)]);
  }
  const contentHash = await out.commit('encode', { fake: true });
  return { key: out.key, contentHash };
}
