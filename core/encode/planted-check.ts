// The oracle check's inputs, made end to end with the pipeline's own code: the planted-latent data
// set (core/data/synth-planted), ingested by the ingest stage's core, and its knowledge sets
// (oracle, shuffled control) encoded by the real ONNX encoder into the encode output format. What
// comes out is what the trainer reads: an ingest directory and one vector directory per set.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DOMAINS, type Domain } from '../../config/names';
import { ingest } from '../data/ingest';
import { PLANTED_SETS, synthesizePlanted, type PlantedOptions } from '../data/synth-planted';
import { LocalStore } from '../store';
import type { DomainCounts } from './assemble';
import { loadEncodeDataset } from './dataset';
import { parseImportedKnowledge } from './imported';
import type { KnowledgeRecord } from './knowledge';
import { encodeKnowledgeLocally } from './local';
import { OnnxEncoder } from './model';

export interface PlantedCheckInputs {
  /** The ingest output (meta.json, train/, test/, seq/). */
  ingestDir: string;
  /** `<encodeDir>/<set>/{user,item}.npy` + `.ids.json` for each planted set. */
  encodeDir: string;
  /** The generator's truth file (favourites, item genres, qualities). */
  truthFile: string;
  counts: Record<string, Record<Domain, DomainCounts>>;
  encoder: { dir: string; dim: number; name?: string | undefined };
}

export async function preparePlantedCheck(a: {
  workDir: string;
  encoderDir: string;
  planted: Omit<PlantedOptions, 'outDir'>;
  /** onnxruntime intra-op threads (0 = its default). */
  threads?: number;
}): Promise<PlantedCheckInputs> {
  const raw = join(a.workDir, 'raw');
  const gen = await synthesizePlanted({ ...a.planted, outDir: raw });
  const store = new LocalStore(join(a.workDir, 'store'));
  const res = await ingest({ store, dir: raw, dataset: { kind: 'synthetic', historyLength: 10, trainFraction: 0.8, kCore: { user: 0, item: 0 } } });
  const dataset = await loadEncodeDataset(store, res.key, { sequences: true });
  const sets = [];
  for (const name of PLANTED_SETS) {
    const records = {} as Record<Domain, KnowledgeRecord[]>;
    for (const d of DOMAINS) {
      const file = join(gen.knowledgeDir, name, `${d}.jsonl`);
      records[d] = parseImportedKnowledge(await readFile(file, 'utf8'), file, { domain: d, ids: d === 'user' ? dataset.userIds : dataset.itemIds });
    }
    sets.push({ name, records });
  }
  const encoder = await OnnxEncoder.open(a.encoderDir, { threads: a.threads ?? 0 });
  try {
    const encodeDir = join(a.workDir, 'encode');
    const counts = await encodeKnowledgeLocally({ dataset, sets, encoder, outDir: encodeDir });
    return {
      ingestDir: join(store.root, ...res.key.split('/')),
      encodeDir,
      truthFile: join(raw, 'synth.json'),
      counts,
      encoder: { dir: a.encoderDir, dim: encoder.dim, name: encoder.config.name },
    };
  } finally {
    await encoder.close();
  }
}
