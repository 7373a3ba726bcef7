// What the quick start's knowledge can carry, without running the pipeline: the simulator's own
// reading and writing (core/sim/world: the profile it reads from a history, the text it writes) for
// every user and item of the quick-start data, from the same samples refine's prompts show (a
// user's latest K training interactions; an item's liking and disliking raters' latest K), with the
// reading noise of a fine-tuned actor's first answer. Encoded with the real encoder into the encode
// output format; bench/knowledge-oracle.py (or trainer.ctr.sweep) trains on it.
// With --cutoff F the prompts see only the first F of each user's training part (the knowledge
// cutoff), so the knowledge never describes a label the model is trained on.
// usage: npx tsx bench/knowledge-quickstart.ts --out /tmp/qs-knowledge [--history 10,40] [--cutoff 0,0.5]
//        [--sigma 0.42] [--seed 1] [--users 300] [--items 400] [--tilt 0.9]
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadDataset } from '../core/data/dataset';
import { buildItemRaterIndex, itemSampleUsers, latestTrainingInteractions, type Sequences } from '../core/data/history';
import { ingest } from '../core/data/ingest';
import { synthesizeDataset } from '../core/data/synth';
import { loadEncodeDataset } from '../core/encode/dataset';
import type { KnowledgeRecord } from '../core/encode/knowledge';
import { encodeKnowledgeLocally } from '../core/encode/local';
import { OnnxEncoder } from '../core/encode/model';
import { promptTitle } from '../core/refine/entities';
import { Catalog } from '../core/sim/catalog';
import { Rng } from '../core/sim/rng';
import { describeItem, describeUser, itemFacts, itemViewOf, profileOf, userFacts, type Ctx } from '../core/sim/world';
import { LocalStore } from '../core/store';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      history: { type: 'string', default: '10' },
      cutoff: { type: 'string', default: '0' },
      sigma: { type: 'string', default: '0.42' },
      seed: { type: 'string', default: '1' },
      users: { type: 'string', default: '300' },
      items: { type: 'string', default: '400' },
      tilt: { type: 'string', default: '0.9' },
      encoder: { type: 'string', default: resolve(__dirname, '..', '.tools', 'encoder') },
    },
  });
  if (!values.out) throw new Error('missing --out DIR');
  const out = resolve(values.out);
  await synthesizeDataset({ outDir: join(out, 'raw'), seed: Number(values.seed), users: Number(values.users), items: Number(values.items), tilt: Number(values.tilt) });
  const store = new LocalStore(join(out, 'store'));
  const res = await ingest({ store, dir: join(out, 'raw'), dataset: { kind: 'synthetic', historyLength: 10, trainFraction: 0.8, kCore: { user: 0, item: 0 } } });
  const view = await loadDataset(store, res.key);
  const seq = await view.sequences();
  const catalog = new Catalog(view.meta.items.map((it) => ({ id: it.id, title: it.title, year: it.year, genres: it.genres })));
  const ctx: Ctx = { catalog, threshold: view.meta.labelThreshold, medium: 'movie' };
  const sigma = Number(values.sigma);
  const entries = (xs: { item: number; rating: number }[]) => xs.map((x) => ({ title: promptTitle(view.item(x.item), 'movie'), rating: x.rating }));
  const dataset = await loadEncodeDataset(store, res.key, { sequences: true });
  const sets = [];
  for (const cutoff of values.cutoff.split(',').map(Number)) {
    // The knowledge cutoff: the prompts see positions below floor(cutoff * train_end) only.
    const cut: Sequences = cutoff > 0 ? { ...seq, trainEnd: Int32Array.from(seq.trainEnd, (e) => Math.floor(cutoff * e)) } : seq;
    const raters = buildItemRaterIndex(cut, view.meta.items.length);
    for (const k of values.history.split(',').map(Number)) {
      const name = `sim-k${k}${cutoff > 0 ? `-cut${cutoff}` : ''}`;
      const user: KnowledgeRecord[] = view.meta.users.map((id, u) => {
        const facts = userFacts(entries(latestTrainingInteractions(cut, u, k)), ctx);
        const rng = new Rng(`${name}/user/${id}`);
        return { entityId: id, index: u, texts: [describeUser(profileOf(facts, rng, sigma), facts, ctx, rng)] };
      });
      const item: KnowledgeRecord[] = [];
      for (const i of view.entityItems()) {
        const it = view.item(i);
        const sides = itemSampleUsers(cut, raters, i, view.meta.labelThreshold, k);
        if (!sides.liking && !sides.disliking) continue; // no rater before the cutoff: no knowledge
        const title = promptTitle(it, 'movie');
        const f = itemFacts(title, sides.liking ? entries(sides.liking.history) : null, sides.disliking ? entries(sides.disliking.history) : null, ctx);
        const rng = new Rng(`${name}/item/${it.id}`);
        item.push({ entityId: it.id, index: i, texts: [describeItem(itemViewOf(f, rng, sigma), f, ctx, rng)] });
      }
      sets.push({ name, records: { user, item } });
    }
  }
  const encoder = await OnnxEncoder.open(resolve(values.encoder), { threads: 1 });
  try {
    const counts = await encodeKnowledgeLocally({ dataset, sets, encoder, outDir: join(out, 'encode') });
    console.log(JSON.stringify({ ingestDir: join(store.root, ...res.key.split('/')), encodeDir: join(out, 'encode'), sets: Object.keys(counts), counts }));
  } finally {
    await encoder.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
