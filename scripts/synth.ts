// Writes the synthetic MovieLens-format data set: `npx tsx scripts/synth.ts [outDir] [seed] [users] [items]`
// (default outDir: $R4EC_STATE_DIR/data/synthetic, state dir default ./.r4ec). `r4ec data synth` calls the same function.
import { resolve } from 'node:path';
import { synthesizeDataset, SYNTH_DEFAULTS } from '../core/data/synth';

async function main(): Promise<void> {
  const [out, seed, users, items] = process.argv.slice(2);
  const num = (s: string | undefined, d: number, name: string) => {
    if (s === undefined) return d;
    const n = Number(s);
    if (!Number.isInteger(n)) throw new Error(`${name}: expected an integer, got "${s}"`);
    return n;
  };
  const outDir = resolve(out ?? resolve(process.env.R4EC_STATE_DIR ?? '.r4ec', 'data', 'synthetic'));
  const r = await synthesizeDataset({
    outDir,
    seed: num(seed, SYNTH_DEFAULTS.seed, 'seed'),
    users: num(users, SYNTH_DEFAULTS.users, 'users'),
    items: num(items, SYNTH_DEFAULTS.items, 'items'),
  });
  console.log(JSON.stringify(r));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
