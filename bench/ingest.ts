// Ingest timing: `npx tsx bench/ingest.ts [dir] [kind] [ratingsFile]` (default: a fresh synthetic
// set). Prints counts, seconds and peak RSS for a cold ingest (empty store) and a warm one (reuse).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatasetSchema } from '../config/schema';
import { ingest, synthesizeDataset } from '../core/data';
import { LocalStore } from '../core/store';

async function main(): Promise<void> {
  const [dirArg, kindArg, ratingsFile] = process.argv.slice(2);
  const work = await mkdtemp(join(tmpdir(), 'r4ec-bench-ingest-'));
  try {
    let dir = dirArg;
    if (!dir) {
      dir = join(work, 'synthetic');
      await synthesizeDataset({ outDir: dir, seed: 1 });
    }
    const dataset = DatasetSchema.parse({ kind: kindArg ?? (dirArg ? 'ml-1m' : 'synthetic'), path: dir, ratingsFile });
    const store = new LocalStore(join(work, 'store'));
    let peak = 0;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    for (const label of ['cold', 'warm']) {
      const t = process.hrtime.bigint();
      const r = await ingest({ store, dataset, dir });
      const s = Number(process.hrtime.bigint() - t) / 1e9;
      peak = Math.max(peak, process.memoryUsage().rss);
      console.log(JSON.stringify({ run: label, seconds: +s.toFixed(2), skipped: r.skipped, key: r.key, peakRssMiB: Math.round(peak / 2 ** 20), ...r.counts }));
    }
    clearInterval(timer);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
