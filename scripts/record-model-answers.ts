// Records real answers of a served model to R4ec prompts built by core/prompts, as parser fixtures:
// construct reason/reflect/refine and the inference actor (reason, refine) and reflection prompts, for
// users and items, on small made-up histories (no dataset needed, nothing non-redistributable).
//
//   npx tsx scripts/record-model-answers.ts [--per-kind 24] [--max-tokens 128] [--out test/fixtures/model-answers/smollm2-base.json]
//     [--url http://127.0.0.1:P/v1 --model NAME]   (default: starts `r4ec serve-model` with the installed SmolLM2)
//     [--time-limit SECONDS]                       (stop asking after this long; run again to resume)
//
// Every answer is appended to `<out>.partial.jsonl` the moment it arrives, so a run that is stopped
// (time limit, Ctrl-C, a killed process) keeps what it had; the next run with the same settings asks
// only the prompts that have no answer yet. When every prompt has one, the fixture is written and
// the partial file removed. The fixture keeps each prompt's spec (the prompt is rebuilt from it), the
// sampling parameters and the answer, so the parser test needs no model.
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildPrompt, type PromptSpec } from '../core/prompts/builders';
import { kindLabel } from '../core/prompts/tags';
import { KINDS, rng, spec } from '../test/helpers/made-up-prompts';

const REPO = resolve(__dirname, '..');
const { values } = parseArgs({
  options: {
    'per-kind': { type: 'string', default: '24' },
    'max-tokens': { type: 'string', default: '128' },
    out: { type: 'string', default: join(REPO, 'test', 'fixtures', 'model-answers', 'smollm2-base.json') },
    url: { type: 'string' },
    model: { type: 'string', default: 'SmolLM2-135M-Instruct' },
    seed: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '16' },
    'time-limit': { type: 'string' },
  },
});
const perKind = Number(values['per-kind']);
const maxTokens = Number(values['max-tokens']);
const concurrency = Number(values.concurrency);
const timeLimitMs = values['time-limit'] ? Number(values['time-limit']) * 1000 : Infinity;
for (const [name, v] of [['per-kind', perKind], ['max-tokens', maxTokens], ['concurrency', concurrency]] as const) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name}: expected a positive integer, got ${v}`);
}
const out = resolve(values.out!);
const partialPath = `${out}.partial.jsonl`;

/** POST without a client timeout: on a busy CPU an answer can take longer than fetch's 300 s. */
function postJson(url: string, body: unknown): Promise<{ status: number; json: any }> {
  return new Promise((ok, fail) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        try {
          ok({ status: res.statusCode ?? 0, json: JSON.parse(text) });
        } catch {
          fail(new Error(`${url}: answered ${res.statusCode} with a body that is not JSON: ${text.slice(0, 300)}`));
        }
      });
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end(JSON.stringify(body));
  });
}

let serverOutput = () => '';

async function startServer(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, [join(REPO, 'bin', 'r4ec.js'), 'serve-model', '--port', '0', '--max-batch', String(concurrency)], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, R4EC_DEBUG: '1' },
  });
  let text = '';
  serverOutput = () => text;
  const url = await new Promise<string>((ok, fail) => {
    const onData = (d: Buffer) => {
      text += d.toString();
      const m = /at (http:\/\/[\d.]+:\d+\/v1)/.exec(text);
      if (m) ok(m[1]!);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (c) => fail(new Error(`serve-model exited (${c}):\n${text}`)));
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

interface Recorded {
  index: number;
  kind: string;
  spec: PromptSpec;
  params: Record<string, unknown>;
  answer: string;
  finishReason: string;
}

/** What a partial file must match to be resumed: the same prompts asked the same way. */
const settings = { model: values.model, perKind, maxTokens, seed: Number(values.seed) };

function readPartial(): Map<number, Recorded> {
  const done = new Map<number, Recorded>();
  if (!existsSync(partialPath)) return done;
  const lines = readFileSync(partialPath, 'utf8').split('\n');
  const head = lines[0] ? (JSON.parse(lines[0]) as { settings?: unknown }) : {};
  if (JSON.stringify(head.settings) !== JSON.stringify(settings)) {
    throw new Error(`${partialPath} was recorded with other settings (${JSON.stringify(head.settings)}, now ${JSON.stringify(settings)}): delete it or rerun with those`);
  }
  for (const line of lines.slice(1)) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as Recorded;
      done.set(r.index, r);
    } catch {
      // a line cut by a kill: that prompt is asked again
    }
  }
  return done;
}

async function main() {
  const r = rng(settings.seed);
  const jobs = KINDS.flatMap((kind) => Array.from({ length: perKind }, (_, i) => ({ kind, spec: spec(kind, r), seed: i })));
  mkdirSync(dirname(out), { recursive: true });
  const done = readPartial();
  for (const [i, rec] of done) {
    if (JSON.stringify(rec.spec) !== JSON.stringify(jobs[i]?.spec)) throw new Error(`${partialPath}: answer ${i} is for another prompt than this script builds: delete the file`);
  }
  if (!existsSync(partialPath)) writeFileSync(partialPath, JSON.stringify({ settings }) + '\n');
  const todo = jobs.map((_, i) => i).filter((i) => !done.has(i));
  process.stderr.write(`${done.size} of ${jobs.length} answers recorded before; asking ${todo.length}\n`);
  const server = todo.length === 0 ? { url: '', stop: () => undefined } : values.url ? { url: values.url, stop: () => undefined } : await startServer();
  const t0 = Date.now();
  let next = 0;
  let tokens = 0;
  let asked = 0;
  const worker = async () => {
    while (next < todo.length && Date.now() - t0 < timeLimitMs) {
      const i = todo[next++]!;
      const job = jobs[i]!;
      const params = { temperature: 0.7, top_p: 0.9, max_tokens: maxTokens, seed: job.seed };
      const res = await postJson(`${server.url}/chat/completions`, { model: values.model, messages: buildPrompt(job.spec), ...params });
      const body = res.json as { choices: { message: { content: string }; finish_reason: string }[]; usage: { completion_tokens: number } };
      if (res.status !== 200) throw new Error(`request ${i}: ${res.status} ${JSON.stringify(body)}\n${serverOutput().slice(-3000)}`);
      tokens += body.usage.completion_tokens;
      asked++;
      const rec: Recorded = { index: i, kind: kindLabel(job.kind), spec: job.spec, params, answer: body.choices[0]!.message.content, finishReason: body.choices[0]!.finish_reason };
      done.set(i, rec);
      appendFileSync(partialPath, JSON.stringify(rec) + '\n');
    }
  };
  const stop = () => {
    server.stop();
    process.stderr.write(`\nstopped: ${done.size} of ${jobs.length} answers kept in ${partialPath}; run again to resume\n`);
    process.exit(130);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, todo.length)) }, worker));
  } finally {
    server.stop();
  }
  const seconds = (Date.now() - t0) / 1000;
  process.stderr.write(`${asked} answers (${tokens} tokens) in ${seconds.toFixed(0)} s\n`);
  if (done.size < jobs.length) {
    process.stderr.write(`time limit reached: ${done.size} of ${jobs.length} answers kept in ${partialPath}; run again to resume\n`);
    return;
  }
  const answers = jobs.map((_, i) => {
    const { index: _index, ...rest } = done.get(i)!;
    return rest;
  });
  const tmp = `${out}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ model: values.model, recordedWith: 'scripts/record-model-answers.ts', perKind, maxTokens, answers }, null, 0).replace(/\},\{"kind"/g, '},\n{"kind"') + '\n');
  renameSync(tmp, out);
  rmSync(partialPath, { force: true });
  process.stderr.write(`all ${jobs.length} answers → ${out}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
