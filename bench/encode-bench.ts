// Encoder throughput: sentences/second of r4ec's encoder (onnxruntime-node + tokenizers, length-
// bucketed batches) at batch 32 and 128, against Python onnxruntime on the same model and texts, and
// peak memory of each process. Prints a table (and JSON lines with --json).
//   npx tsx bench/encode-bench.ts [--model DIR] [--texts 1024] [--batches 32,128] [--threads 0] [--json]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { OnnxEncoder } from '../core/encode/model';

const { values: opt } = parseArgs({
  options: {
    model: { type: 'string', default: resolve(__dirname, '..', '.tools', 'encoder') },
    texts: { type: 'string', default: '1024' },
    batches: { type: 'string', default: '32,128' },
    threads: { type: 'string', default: '0' },
    python: { type: 'string', default: resolve(__dirname, '..', '.tools', 'venv', 'bin', 'python') },
    json: { type: 'boolean', default: false },
  },
});

/** Knowledge-like texts of 8..160 words (LLM profiles are long; titles short), fixed seed. */
function makeTexts(n: number): string[] {
  const words = (
    'the user enjoys thoughtful dramas with strong characters and dislikes loud action films ' +
    'prefers classic comedies from the eighties romantic stories animated family movies science fiction ' +
    'with space exploration slow paced documentaries about nature and history thrillers horror crime ' +
    'music soundtrack director acting plot twist ending sequel award critics audience rating genre'
  ).split(' ');
  let s = 42;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  return Array.from({ length: n }, (_, i) => {
    const len = 8 + Math.floor(rnd() * 153);
    return `#${i} ` + Array.from({ length: len }, () => words[Math.floor(rnd() * words.length)]).join(' ') + '.';
  });
}

interface Row {
  runtime: string;
  batch: number;
  texts: number;
  seconds: number;
  perSecond: number;
  /** CPU time of the whole process (all threads): less sensitive than wall time to a shared machine. */
  cpuSeconds: number;
  perCpuSecond: number;
  peakRssMiB: number;
}

async function main(): Promise<void> {
  const n = Number(opt.texts);
  const batches = opt.batches.split(',').map(Number);
  const texts = makeTexts(n);
  const enc = await OnnxEncoder.open(opt.model, { threads: Number(opt.threads) });
  const toks = await enc.tokenize(texts);
  const meanTokens = toks.reduce((a, t) => a + t.ids.length, 0) / n;
  await enc.encode(texts.slice(0, 64), { batchSize: 32 }); // warm-up
  const rows: Row[] = [];
  for (const b of batches) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await enc.encode(texts, { batchSize: b });
    const dt = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    const cpu = (c.user + c.system) / 1e6;
    rows.push({
      runtime: 'r4ec onnxruntime-node',
      batch: b,
      texts: n,
      seconds: +dt.toFixed(3),
      perSecond: +(n / dt).toFixed(1),
      cpuSeconds: +cpu.toFixed(3),
      perCpuSecond: +(n / cpu).toFixed(1),
      peakRssMiB: +(process.resourceUsage().maxRSS / 1024).toFixed(1),
    });
  }
  await enc.close();

  const dir = mkdtempSync(join(tmpdir(), 'r4ec-bench-'));
  try {
    writeFileSync(join(dir, 'texts.json'), JSON.stringify(texts));
    for (const sorted of [false, true]) {
      const out = execFileSync(
        opt.python,
        [join(__dirname, 'encode-bench.py'), '--model', opt.model, '--texts', join(dir, 'texts.json'), '--batches', opt.batches, '--threads', opt.threads, ...(sorted ? ['--sorted'] : [])],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
      );
      rows.push(...out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  if (opt.json) for (const r of rows) console.log(JSON.stringify(r));
  console.log(`model ${enc.config.name ?? opt.model} (dim ${enc.dim}, maxLength ${enc.config.maxLength}); ${n} texts, mean ${meanTokens.toFixed(1)} tokens`);
  console.log(`load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${cpus().length} CPUs (wall-time figures need an idle machine)`);
  console.log('runtime                                   batch  sentences/s  sentences/CPU-s  seconds  peak RSS MiB');
  for (const r of rows) {
    console.log(
      `${r.runtime.padEnd(42)}${String(r.batch).padStart(5)}${r.perSecond.toFixed(1).padStart(13)}${r.perCpuSecond.toFixed(1).padStart(17)}` +
        `${r.seconds.toFixed(2).padStart(9)}${r.peakRssMiB.toFixed(0).padStart(14)}`,
    );
  }
}

void main();
