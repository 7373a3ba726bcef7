// Format compliance of the local model: the share of answers the R4ec parser accepts (knowledge
// tags for the actor's reason/refine prompts; judgement + reflection for the reflection prompts), the
// untuned base model next to the adapters a run's finetune stage trained. The prompts are held out:
// made-up histories (test/helpers/made-up-prompts.ts) that no construct record contains.
//
//   npx tsx bench/format-compliance.ts --state-dir DIR [--finetune-key KEY] [--per-role 100] [--max-tokens 256] [--base .tools/smollm2]
//     [--roles actor,reflection] [--save-tuned FILE [--save-count 48]] [--time-limit SECONDS]   (the tuned adapters' first answers as a parser fixture, test/llm/model-answers.test.ts)
//
// DIR is a run's state dir with a local store (R4EC_STATE_DIR of `r4ec run`); its finetune output
// (the only one, or --finetune-key) names the adapters: `<domain>-actor` answers that domain's
// reason and refine prompts, `<domain>-reflection` its reflect prompts. Sampling as refine asks
// (llm.serveModel defaults: temperature 0.7, top_p 0.9). Prints `uptime` first; figures per role and
// prompt kind, and the failure codes.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { R4ecConfigSchema } from '../config/schema';
import { adapterLocalDir, getAdapter } from '../core/finetune';
import { FormatError, parseAnswer } from '../core/llm/parse';
import { baseModelName, ModelEngine, startModelServer } from '../core/model-server';
import { buildPrompt, promptKindOf, type PromptSpec } from '../core/prompts/builders';
import { kindLabel, type PromptKind } from '../core/prompts/tags';
import { LocalStore } from '../core/store';
import { pythonBinary } from '../runtime/paths';
import { rng, spec } from '../test/helpers/made-up-prompts';

const REPO = resolve(__dirname, '..');
const { values } = parseArgs({
  options: {
    'state-dir': { type: 'string' },
    'finetune-key': { type: 'string' },
    'per-role': { type: 'string', default: '100' },
    /** The roles asked (a comma list of actor, reflection). */
    roles: { type: 'string', default: 'actor,reflection' },
    'max-tokens': { type: 'string', default: '256' },
    base: { type: 'string', default: join(REPO, '.tools', 'smollm2') },
    seed: { type: 'string', default: '7' },
    'save-tuned': { type: 'string' },
    'save-count': { type: 'string', default: '48' },
    /** Stop asking after this many seconds and print what was answered (a busy CPU decodes slowly). */
    'time-limit': { type: 'string' },
  },
});
const defaults = R4ecConfigSchema.parse({}).llm.serveModel;
const perRole = Number(values['per-role']);
const roles = new Set(values.roles.split(',').map((r) => r.trim()));
for (const r of roles) if (r !== 'actor' && r !== 'reflection') throw new Error(`--roles: "${r}" is not a role (expected actor and/or reflection)`);
const maxTokens = Number(values['max-tokens']);
if (!values['state-dir']) throw new Error('--state-dir DIR: the state dir of a run whose finetune stage trained the adapters');

const ACTOR_KINDS: PromptKind[] = [];
const REFLECTION_KINDS: PromptKind[] = [];
for (const domain of ['user', 'item'] as const) {
  for (const step of ['reason', 'refine'] as const) ACTOR_KINDS.push({ domain, step, variant: 'inference', medium: 'movie' });
  REFLECTION_KINDS.push({ domain, step: 'reflect', variant: 'inference', medium: 'movie' });
}

async function adapters(store: LocalStore): Promise<Record<string, { name: string; dir: string }>> {
  let key = values['finetune-key'];
  if (!key) {
    const found = (await store.list('finetune/')).filter((k) => k.endsWith('/adapters.json'));
    if (found.length !== 1) throw new Error(`${store.description}: ${found.length} finetune outputs (${found.join(', ')}): name one with --finetune-key`);
    key = found[0]!.slice(0, -'/adapters.json'.length);
  }
  const file = JSON.parse((await store.get(`${key}/adapters.json`)).toString('utf8')) as { adapters: Record<string, { jobKey: string }> };
  const out: Record<string, { name: string; dir: string }> = {};
  for (const [job, a] of Object.entries(file.adapters)) {
    const entry = await getAdapter(store, a.jobKey);
    if (!entry?.adapterKey) throw new Error(`${key}: job ${job} has no adapter files`);
    out[job] = { name: entry.servedName, dir: await adapterLocalDir(store, entry) };
  }
  return out;
}

interface Tally {
  asked: number;
  parsed: number;
  codes: Map<string, number>;
}

async function main() {
  process.stdout.write(`uptime: ${execFileSync('uptime', { encoding: 'utf8' }).trim()}\n`);
  const store = new LocalStore(join(resolve(values['state-dir']!), 'store'));
  const tuned = await adapters(store);
  const base = resolve(values.base!);
  const engine = await ModelEngine.start({ python: pythonBinary(), trainerRoot: REPO, base, threads: defaults.threads, maxBatch: defaults.maxBatch });
  const baseName = baseModelName(base);
  const server = await startModelServer({ engine, model: baseName, host: '127.0.0.1', port: 0 });
  try {
    for (const [job, a] of Object.entries(tuned)) {
      const r = await fetch(`${server.url}/v1/load_lora_adapter`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ lora_name: a.name, lora_path: a.dir }) });
      if (!r.ok) throw new Error(`loading ${job} (${a.dir}): ${r.status} ${await r.text()}`);
    }
    const r = rng(Number(values.seed));
    const prompts: { role: 'actor' | 'reflection'; spec: PromptSpec }[] = [];
    for (const [role, kinds] of [['actor', ACTOR_KINDS], ['reflection', REFLECTION_KINDS]] as const) {
      if (!roles.has(role)) continue;
      for (let i = 0; i < perRole; i++) prompts.push({ role, spec: spec(kinds[i % kinds.length]!, r) });
    }
    const jobs = prompts.flatMap((p, i) => {
      const adapter = tuned[`${p.spec.domain}-${p.role}`];
      return [
        { ...p, i, model: baseName, label: 'base' },
        ...(adapter ? [{ ...p, i, model: adapter.name, label: 'tuned' }] : []),
      ];
    });
    const tallies = new Map<string, Tally>();
    const saved: { kind: string; spec: PromptSpec; model: string; params: Record<string, unknown>; answer: string; finishReason: string }[] = [];
    let next = 0;
    let tokens = 0;
    const t0 = Date.now();
    const limitMs = values['time-limit'] ? Number(values['time-limit']) * 1000 : Infinity;
    const worker = async () => {
      while (next < jobs.length && Date.now() - t0 < limitMs) {
        const job = jobs[next++]!;
        const res = await fetch(`${server.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: job.model, messages: buildPrompt(job.spec), temperature: defaults.temperature, top_p: defaults.topP, max_tokens: maxTokens, seed: job.i }),
          signal: AbortSignal.timeout(30 * 60_000),
        });
        const body = (await res.json()) as { choices: { message: { content: string }; finish_reason: string }[]; usage: { completion_tokens: number } };
        if (!res.ok) throw new Error(`${job.model}: ${res.status} ${JSON.stringify(body)}`);
        tokens += body.usage.completion_tokens;
        const kind = promptKindOf(job.spec);
        if (job.label === 'tuned') {
          const params = { temperature: defaults.temperature, top_p: defaults.topP, max_tokens: maxTokens, seed: job.i };
          saved.push({ kind: kindLabel(kind), spec: job.spec, model: job.model, params, answer: body.choices[0]!.message.content, finishReason: body.choices[0]!.finish_reason });
        }
        for (const key of [`${job.label} ${job.role}`, `${job.label} ${kindLabel(kind)}`]) {
          const t = tallies.get(key) ?? { asked: 0, parsed: 0, codes: new Map<string, number>() };
          tallies.set(key, t);
          t.asked++;
          try {
            parseAnswer(kind, body.choices[0]!.message.content);
            t.parsed++;
          } catch (e) {
            if (!(e instanceof FormatError)) throw e;
            t.codes.set(e.code, (t.codes.get(e.code) ?? 0) + 1);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: defaults.maxBatch }, worker));
    const seconds = (Date.now() - t0) / 1000;
    process.stdout.write(`${next < jobs.length ? `time limit reached: ${next} of ` : ''}${jobs.length} answers, ${tokens} tokens in ${seconds.toFixed(0)} s (max_tokens ${maxTokens}); base ${baseName}; adapters ${Object.entries(tuned).map(([j, a]) => `${j}=${a.name}`).join(', ')}\n\n`);
    process.stdout.write(`${'model / prompts'.padEnd(40)}${'parsed'.padStart(8)}${'asked'.padStart(7)}${'share'.padStart(8)}   format errors\n`);
    for (const [key, t] of [...tallies].sort(([a], [b]) => a.localeCompare(b))) {
      const codes = [...t.codes].map(([c, n]) => `${c} ${n}`).join(', ');
      process.stdout.write(`${key.padEnd(40)}${String(t.parsed).padStart(8)}${String(t.asked).padStart(7)}${`${((100 * t.parsed) / t.asked).toFixed(1)} %`.padStart(8)}   ${codes}\n`);
    }
    if (values['save-tuned']) {
      // Every prompt kind asked, in turn, so a short fixture still covers them all.
      const byKind = new Map<string, typeof saved>();
      for (const a of saved) byKind.set(a.kind, [...(byKind.get(a.kind) ?? []), a]);
      const picked: typeof saved = [];
      for (let i = 0; picked.length < Number(values['save-count']) && i < saved.length; i++)
        for (const list of byKind.values()) if (list[i] && picked.length < Number(values['save-count'])) picked.push(list[i]!);
      const fixture = { model: `${baseName} + the finetune stage's adapters`, recordedWith: 'bench/format-compliance.ts', variants: ['inference'], maxTokens, answers: picked };
      writeFileSync(values['save-tuned'], JSON.stringify(fixture) + '\n');
      process.stdout.write(`\n${picked.length} tuned answers written to ${values['save-tuned']}\n`);
    }
  } finally {
    await server.close();
    await engine.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
