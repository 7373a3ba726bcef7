// Records real answers of a served model to R4ec prompts built by core/prompts, as parser fixtures:
// construct reason/reflect/refine and the inference actor (reason, refine) and reflection prompts, for
// users and items, on small made-up histories (no dataset needed, nothing non-redistributable).
//
//   npx tsx scripts/record-model-answers.ts [--per-kind 24] [--max-tokens 160] [--out test/fixtures/model-answers/smollm2-base.json]
//     [--url http://127.0.0.1:P/v1 --model NAME]   (default: starts `r4ec serve-model` with the installed SmolLM2)
//
// The file keeps each prompt's spec (the prompt is rebuilt from it), the sampling parameters and the
// answer, so the parser test needs no model.
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildPrompt, type PromptSpec } from '../core/prompts/builders';
import { kindLabel, type PromptKind } from '../core/prompts/tags';

const REPO = resolve(__dirname, '..');
const { values } = parseArgs({
  options: {
    'per-kind': { type: 'string', default: '24' },
    'max-tokens': { type: 'string', default: '160' },
    out: { type: 'string', default: join(REPO, 'test', 'fixtures', 'model-answers', 'smollm2-base.json') },
    url: { type: 'string' },
    model: { type: 'string', default: 'SmolLM2-135M-Instruct' },
    seed: { type: 'string', default: '1' },
  },
});
const perKind = Number(values['per-kind']);
const maxTokens = Number(values['max-tokens']);

// Made-up titles, years and a rating rule per "user", so histories look like real ones.
const TITLES = [
  'The Glass Orchard (1994)', 'Midnight at Harrow Lane (1987)', 'Seven Paper Boats (2001)', 'Iron Meridian (1999)', 'A Quiet Season (1992)',
  'The Last Lamplighter (1978)', 'Copper Skies (2003)', 'Laughing Gas Express (1996)', 'Under the Salt Flats (1985)', 'Hollow Crown Hotel (1998)',
  'The Cartographer\'s Son (1990)', 'Neon Tide (2000)', 'Paper Lions (1983)', 'Winter Circus (1995)', 'Blue Harbour Blues (1989)',
  'Signal from Vega (1997)', 'The Orchid Thief\'s Daughter (2002)', 'Rustbelt Requiem (1993)', 'Goodbye, Mr. Pelican (1986)', 'Stormbreak (1999)',
];

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function history(r: () => number, n = 10) {
  const picked = [...TITLES].sort(() => r() - 0.5).slice(0, n);
  return picked.map((title) => ({ title, rating: 1 + Math.floor(r() * 5) }));
}

const PREVIOUS = {
  user: 'The user enjoys slow, character-driven dramas and thoughtful science fiction, rates broad comedies low, and returns to films about family and memory; recent ratings show less patience for long runtimes.',
  item: 'A melancholy drama about a family orchard across three generations, praised for its photography and quiet performances; liked by viewers of reflective dramas, disliked by those who want a brisk plot.',
};
const REFLECTION = 'The analysis ignores the low ratings of the two recent dramas and overstates the taste for science fiction, which rests on a single rating.';

function spec(kind: PromptKind, r: () => number): PromptSpec {
  const extra = {
    ...(kind.step !== 'reason' ? { previous: PREVIOUS[kind.domain] } : {}),
    ...(kind.step === 'refine' ? { reflection: REFLECTION } : {}),
  };
  const common = { step: kind.step, variant: kind.variant, medium: kind.medium, ...extra };
  if (kind.domain === 'user') {
    return { domain: 'user', ...common, history: history(r), ...(kind.variant === 'construct' ? { target: TITLES[Math.floor(r() * TITLES.length)]! } : {}) };
  }
  return {
    domain: 'item',
    ...common,
    title: TITLES[Math.floor(r() * TITLES.length)]!,
    likeHistory: history(r),
    dislikeHistory: r() < 0.2 ? null : history(r),
    ...(kind.variant === 'construct' ? { targetHistory: history(r) } : {}),
  };
}

const KINDS: PromptKind[] = [];
for (const domain of ['user', 'item'] as const) {
  for (const step of ['reason', 'reflect', 'refine'] as const) KINDS.push({ domain, step, variant: 'construct', medium: 'movie' });
  for (const step of ['reason', 'reflect', 'refine'] as const) KINDS.push({ domain, step, variant: 'inference', medium: 'movie' });
}

/** POST without a client timeout: on a busy CPU an answer can take longer than fetch's 300 s. */
function postJson(url: string, body: unknown): Promise<{ status: number; json: any }> {
  return new Promise((ok, fail) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end(JSON.stringify(body));
  });
}

let serverOutput = () => '';

async function startServer(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, [join(REPO, 'bin', 'r4ec.js'), 'serve-model', '--port', '0'], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, R4EC_DEBUG: '1' },
  });
  let out = '';
  serverOutput = () => out;
  const url = await new Promise<string>((ok, fail) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /at (http:\/\/[\d.]+:\d+\/v1)/.exec(out);
      if (m) ok(m[1]!);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (c) => fail(new Error(`serve-model exited (${c}):\n${out}`)));
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

async function main() {
  const server = values.url ? { url: values.url, stop: () => undefined } : await startServer();
  const r = rng(Number(values.seed));
  const jobs = KINDS.flatMap((kind) => Array.from({ length: perKind }, (_, i) => ({ kind, spec: spec(kind, r), seed: i })));
  const results: unknown[] = new Array(jobs.length);
  const t0 = Date.now();
  let next = 0;
  let tokens = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      const job = jobs[i]!;
      const params = { temperature: 0.7, top_p: 0.9, max_tokens: maxTokens, seed: job.seed };
      const res = await postJson(`${server.url}/chat/completions`, { model: values.model, messages: buildPrompt(job.spec), ...params });
      const body = res.json as { choices: { message: { content: string }; finish_reason: string }[]; usage: { completion_tokens: number } };
      if (res.status !== 200) throw new Error(`request ${i}: ${res.status} ${JSON.stringify(body)}\n${serverOutput().slice(-3000)}`);
      tokens += body.usage.completion_tokens;
      results[i] = { kind: kindLabel(job.kind), spec: job.spec, params, answer: body.choices[0]!.message.content, finishReason: body.choices[0]!.finish_reason };
    }
  };
  try {
    await Promise.all(Array.from({ length: 16 }, worker));
  } finally {
    server.stop();
  }
  const seconds = (Date.now() - t0) / 1000;
  mkdirSync(dirname(values.out!), { recursive: true });
  writeFileSync(
    values.out!,
    JSON.stringify({ model: values.model, recordedWith: 'scripts/record-model-answers.ts', perKind, maxTokens, answers: results }, null, 0).replace(/\},\{"kind"/g, '},\n{"kind"') + '\n',
  );
  process.stderr.write(`${results.length} answers (${tokens} tokens) in ${seconds.toFixed(0)} s → ${values.out}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
