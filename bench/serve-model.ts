// Throughput of `r4ec serve-model` (transformers + peft, continuous batching) in generated tokens/s at
// concurrency 1 and 16, next to plain single-stream generation of the same model
// (bench/plain-generate.py), on an R4ec inference prompt built by core/prompts. Optionally the same
// with llama.cpp through node-llama-cpp (the engine this project compared against), when that package
// can be imported and --gguf names the model's GGUF file.
//
//   npx tsx bench/serve-model.ts [--base .tools/smollm2] [--max-tokens 128] [--requests 32] [--gguf FILE.gguf]
//
// Every answer is forced to --max-tokens (min_tokens via a stop-free prompt is not guaranteed, so the
// figure counts the tokens actually generated). Run on a quiet machine; prints `uptime` first.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildPrompt } from '../core/prompts/builders';
import { pythonBinary } from '../runtime/paths';
import { childrenCpuSeconds } from './proc';

const REPO = resolve(__dirname, '..');
const { values } = parseArgs({
  options: {
    base: { type: 'string', default: join(REPO, '.tools', 'smollm2') },
    'max-tokens': { type: 'string', default: '128' },
    requests: { type: 'string', default: '32' },
    gguf: { type: 'string' },
  },
});
const maxTokens = Number(values['max-tokens']);
const requests = Number(values.requests);

const titles = ['Heat (1995)', 'Casino (1995)', 'Toy Story (1995)', 'Fargo (1996)', 'The Matrix (1999)', 'Jumanji (1995)', 'Sabrina (1995)', 'GoldenEye (1995)', 'Babe (1995)', 'Seven (1995)'];
const prompt = (i: number) =>
  buildPrompt({ domain: 'user', step: 'reason', variant: 'inference', medium: 'movie', history: titles.map((title, k) => ({ title, rating: ((k + i) * 7) % 5 + 1 })) });

async function serverRound(url: string, model: string, concurrency: number, n: number) {
  let next = 0;
  let tokens = 0;
  const t0 = Date.now();
  const cpu0 = childrenCpuSeconds();
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, messages: prompt(i), temperature: 0.7, top_p: 0.9, seed: i, max_tokens: maxTokens }),
      });
      const body = (await res.json()) as { usage: { completion_tokens: number } };
      tokens += body.usage.completion_tokens;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (Date.now() - t0) / 1000;
  return { concurrency, requests: n, tokens, seconds: +seconds.toFixed(1), tokensPerSecond: +(tokens / seconds).toFixed(1), cpuSeconds: +(childrenCpuSeconds() - cpu0).toFixed(1) };
}

async function transformersServer() {
  const child = spawn(process.execPath, [join(REPO, 'bin', 'r4ec.js'), 'serve-model', '--port', '0', '--base', values.base!, '--max-batch', '16'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = await new Promise<string>((ok, fail) => {
    const on = (d: Buffer) => {
      out += d.toString();
      const m = /(\S+) at (http:\/\/[\d.]+:\d+)\/v1/.exec(out);
      if (m) ok(m[2]!);
    };
    child.stderr.on('data', on);
    child.once('exit', (c) => fail(new Error(`serve-model exited (${c}): ${out}`)));
  });
  const model = ((await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] }).data[0]!.id;
  try {
    await serverRound(url, model, 1, 1); // warm-up
    const one = await serverRound(url, model, 1, Math.max(2, Math.ceil(requests / 8)));
    const sixteen = await serverRound(url, model, 16, requests);
    return { one, sixteen };
  } finally {
    child.kill('SIGTERM');
  }
}

async function llamaCpp(gguf: string) {
  // Imported by name so the project does not depend on it; install it beside the clone to compare:
  // npm install --no-save -E node-llama-cpp@3.21.1 @node-llama-cpp/linux-x64@3.21.1 --omit=optional
  let lib: any;
  try {
    lib = await import('node-llama-cpp' as string);
  } catch {
    return { skipped: 'node-llama-cpp is not installed' };
  }
  const llama = await lib.getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  const model = await llama.loadModel({ modelPath: gguf });
  const round = async (n: number) => {
    const ctx = await model.createContext({ sequences: n, contextSize: n * 1024, threads: 2, batchSize: 2048 });
    const t0 = Date.now();
    let tokens = 0;
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const msgs = prompt(i);
        const session = new lib.LlamaChatSession({ contextSequence: ctx.getSequence(), systemPrompt: msgs[0]!.content });
        await session.prompt(msgs[1]!.content, { maxTokens, temperature: 0.7, topP: 0.9, seed: i, onToken: (t: number[]) => (tokens += t.length) });
      }),
    );
    const seconds = (Date.now() - t0) / 1000;
    await ctx.dispose();
    return { concurrency: n, tokens, seconds: +seconds.toFixed(1), tokensPerSecond: +(tokens / seconds).toFixed(1) };
  };
  await round(1);
  return { one: await round(1), sixteen: await round(16) };
}

async function main() {
  process.stdout.write(`load: ${execFileSync('uptime').toString().trim()}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'r4ec-bench-serve-'));
  writeFileSync(join(dir, 'prompts.json'), JSON.stringify([prompt(0)]));
  const plain = JSON.parse(
    execFileSync(pythonBinary(), [join(REPO, 'bench', 'plain-generate.py'), '--base', values.base!, '--prompt-file', join(dir, 'prompts.json'), '--max-tokens', String(maxTokens)], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString(),
  ) as { tokensPerSecond: number };
  process.stdout.write(`plain single-stream generation: ${JSON.stringify(plain)}\n`);
  const tf = await transformersServer();
  process.stdout.write(`serve-model (transformers + peft) c=1:  ${JSON.stringify(tf.one)}\n`);
  process.stdout.write(`serve-model (transformers + peft) c=16: ${JSON.stringify(tf.sixteen)}\n`);
  process.stdout.write(
    `  → c=16 / plain single stream: ${(tf.sixteen.tokensPerSecond / plain.tokensPerSecond).toFixed(2)}×   c=16 / c=1: ${(tf.sixteen.tokensPerSecond / tf.one.tokensPerSecond).toFixed(2)}×\n`,
  );
  if (values.gguf) {
    const lc = await llamaCpp(values.gguf);
    process.stdout.write(`llama.cpp (node-llama-cpp, one context, 16 sequences): ${JSON.stringify(lc)}\n`);
  }
  process.stdout.write(`load: ${execFileSync('uptime').toString().trim()}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
