// Makes the planted-latent check's inputs (data set, ingest, oracle + shuffled vectors from the real
// encoder) in a directory and prints where they are, for bench/knowledge-oracle.py.
// usage: npx tsx bench/knowledge-planted.ts --out /tmp/planted [--seed 1] [--users 400] [--items 300]
//        [--encoder .tools/encoder]
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { preparePlantedCheck } from '../core/encode/planted-check';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      seed: { type: 'string', default: '1' },
      users: { type: 'string' },
      items: { type: 'string' },
      encoder: { type: 'string', default: resolve(__dirname, '..', '.tools', 'encoder') },
      threads: { type: 'string', default: '1' },
    },
  });
  if (!values.out) throw new Error('missing --out DIR');
  const int = (s: string | undefined) => (s === undefined ? undefined : Number.parseInt(s, 10));
  const t0 = Date.now();
  const r = await preparePlantedCheck({
    workDir: resolve(values.out),
    encoderDir: resolve(values.encoder),
    planted: { seed: int(values.seed)!, ...(values.users ? { users: int(values.users)! } : {}), ...(values.items ? { items: int(values.items)! } : {}) },
    threads: int(values.threads)!,
  });
  console.log(JSON.stringify({ ...r, seconds: (Date.now() - t0) / 1000 }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
