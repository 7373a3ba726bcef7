// Δ AUC vs Base with its 95 % interval (core/report/intervals) for runs a sweep wrote with
// `predictions: true` (`<runs>/<name>/test_pred.npy`), on the ingest output's test users and labels.
// Each comparison is `BASE=VARIANT`; a side may list seeds joined by `+` (same order on both sides).
// usage: npx tsx bench/knowledge-intervals.ts --ingest DIR --runs DIR \
//          'deepfm/after/base=deepfm/after/oracle' 'a/base/seed-1+a/base/seed-2=a/full/seed-1+a/full/seed-2'
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeNpy } from '../core/data/npy';
import { aucDeltaInterval, formatDelta } from '../core/report/intervals';

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { ingest: { type: 'string' }, runs: { type: 'string' }, resamples: { type: 'string', default: '500' } },
  });
  if (!values.ingest || !values.runs || positionals.length === 0) throw new Error('usage: --ingest DIR --runs DIR BASE=VARIANT ...');
  const npy = (p: string) => decodeNpy(readFileSync(p), p).data;
  const labels = npy(join(values.ingest, 'test', 'label.npy')) as Int8Array;
  const users = npy(join(values.ingest, 'test', 'user.npy')) as Int32Array;
  const preds = (names: string) => names.split('+').map((n) => npy(join(values.runs!, n, 'test_pred.npy')) as Float32Array);
  for (const cmp of positionals) {
    const [b, v] = cmp.split('=');
    if (!b || !v) throw new Error(`expected BASE=VARIANT, got "${cmp}"`);
    const d = aucDeltaInterval({ labels, users }, preds(b), preds(v), { resamples: Number(values.resamples) });
    console.log(`${v}  vs  ${b}:  Δ AUC ${formatDelta(d)}  (SE users ${d.seUsers.toFixed(4)}, seeds ${d.seSeeds.toFixed(4)}, ${d.seeds} seed(s))`);
  }
}

main();
