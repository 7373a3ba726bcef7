// Runs the ingest stage's core on a MovieLens directory into a local store and prints where the
// dataset's arrays are, for the CTR benchmark (bench/ctr-bench.py reads them with numpy).
// usage: npx tsx bench/ctr-ingest.ts --data ../shared/data/ml-1m --store /tmp/r4ec-bench-store
import { join } from 'node:path';
import { ingest } from '../core/data';
import { LocalStore } from '../core/store';

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (!v) throw new Error(`missing --${name}`);
  return v;
}

async function main(): Promise<void> {
  const storeDir = arg('store');
  const t0 = Date.now();
  const r = await ingest({
    store: new LocalStore(storeDir),
    dir: arg('data'),
    dataset: { kind: 'ml-1m', historyLength: 10, trainFraction: 0.8, kCore: { user: 0, item: 0 } },
  });
  console.log(JSON.stringify({ key: r.key, dir: join(storeDir, ...r.key.split('/')), skipped: r.skipped, seconds: (Date.now() - t0) / 1000, ...r.summary }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
