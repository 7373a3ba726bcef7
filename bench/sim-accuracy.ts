// Simulator bench: verdict accuracy vs the majority-class rate on the shared ML-1M training
// samples, the share of Algorithm 1 outcomes its reflections produce, and requests/second through
// the real client over HTTP.
//
//   npx tsx bench/sim-accuracy.ts [--samples 2000] [--concurrency 16] [--inproc] [--items]
//
// --inproc answers in-process (no HTTP) for quick tuning, with SIM_BEHAVIOUR='{"sigma":0.7,...}'
// overriding the simulator's behaviour knobs (core/sim/answer.ts). Needs ../shared/data/ml-1m.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LlmClient } from '../core/llm/client';
import { correctionTurn, parseAnswer, type JudgementAnswer, type ParsedAnswer, type VerdictAnswer } from '../core/llm/parse';
import type { ChatMessage } from '../core/llm/types';
import { buildPrompt, type PromptSpec } from '../core/prompts/builders';
import type { PromptKind } from '../core/prompts/tags';
import { answer } from '../core/sim/answer';
import { Catalog } from '../core/sim/catalog';
import { startSimulator } from '../core/sim/server';
import { sharedPath } from '../test/helpers/data';
import { loadMl1mSamples, type ItemSample, type UserSample } from './sim-samples';

const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
    seed: { type: 'string', default: '7' },
    inproc: { type: 'boolean', default: false },
    items: { type: 'boolean', default: false },
  },
});
const N = Number(values.samples);
const CONC = Number(values.concurrency);

type Ask = (spec: PromptSpec, seed: number) => Promise<ParsedAnswer>;

interface Tally {
  n: number;
  positives: number;
  correct: number;
  outcomes: Record<string, number>;
  wrong: number;
  wrongFlagged: number;
  right: number;
  rightFlagged: number;
  refined: number;
  refinedCorrect: number;
}

function newTally(): Tally {
  return { n: 0, positives: 0, correct: 0, outcomes: {}, wrong: 0, wrongFlagged: 0, right: 0, rightFlagged: 0, refined: 0, refinedCorrect: 0 };
}

/** Algorithm 1 on one sample: reason → reflect → (refine), tallying the branch taken. */
async function algorithm1(ask: Ask, base: PromptSpec, label: boolean, seed: number, t: Tally): Promise<void> {
  const r = (await ask({ ...base, step: 'reason' }, seed)) as VerdictAnswer;
  const j = (await ask({ ...base, step: 'reflect', previous: r.knowledge }, seed)) as JudgementAnswer;
  const ok = r.like === label;
  t.n++;
  t.positives += label ? 1 : 0;
  t.correct += ok ? 1 : 0;
  if (ok) {
    t.right++;
    if (!j.reasonable) t.rightFlagged++;
  } else {
    t.wrong++;
    if (!j.reasonable) t.wrongFlagged++;
  }
  let outcome: string;
  if (j.reasonable && ok) outcome = 'kept_reason';
  else if (!j.reasonable && ok) outcome = 'discard_correct_unreasonable';
  else if (j.reasonable && !ok) outcome = 'discard_wrong_reasonable';
  else {
    const f = (await ask({ ...base, step: 'refine', previous: r.knowledge, reflection: j.reflection }, seed)) as VerdictAnswer;
    t.refined++;
    if (f.like === label) t.refinedCorrect++;
    outcome = f.like === label ? 'kept_refine' : 'discard_refine_wrong';
  }
  t.outcomes[outcome] = (t.outcomes[outcome] ?? 0) + 1;
}

async function pool<T>(xs: T[], conc: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (i < xs.length) await fn(xs[i++]!);
    }),
  );
}

function pct(a: number, b: number): string {
  return b === 0 ? 'n/a' : `${((100 * a) / b).toFixed(1)}%`;
}

function report(name: string, t: Tally): void {
  const majority = Math.max(t.positives, t.n - t.positives) / t.n;
  const acc = t.correct / t.n;
  console.log(`\n== ${name}: ${t.n} training samples`);
  console.log(`verdict accuracy      ${pct(t.correct, t.n)}   majority-class rate ${pct(Math.max(t.positives, t.n - t.positives), t.n)}   margin ${((acc - majority) * 100).toFixed(1)} points`);
  console.log(`wrong answers flagged ${pct(t.wrongFlagged, t.wrong)} (${t.wrongFlagged}/${t.wrong})   right answers flagged ${pct(t.rightFlagged, t.right)} (${t.rightFlagged}/${t.right})`);
  console.log(`refined answers right ${pct(t.refinedCorrect, t.refined)} (${t.refinedCorrect}/${t.refined})`);
  console.log(`outcomes ${JSON.stringify(t.outcomes)}`);
}

function userSpec(s: UserSample): PromptSpec {
  return { domain: 'user', step: 'reason', variant: 'construct', medium: 'movie', history: s.history, target: s.target };
}
function itemSpec(s: ItemSample): PromptSpec {
  return { domain: 'item', step: 'reason', variant: 'construct', medium: 'movie', title: s.title, likeHistory: s.like, dislikeHistory: s.dislike, targetHistory: s.target };
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const data = await loadMl1mSamples(sharedPath('ml-1m'));
  console.log(`loaded ML-1M half: ${data.trainCount} training samples (${pct(data.trainPositive, data.trainCount)} positive) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const seed = Number(values.seed);
  const users = data.userSamples(N, seed);
  const items = values.items ? data.itemSamples(Math.min(N, 1000), seed + 1) : [];
  const catalog = new Catalog(data.catalog);

  let ask: Ask;
  let close = async () => {};
  let requests = () => 0;
  let usersDone: number | undefined;
  if (values.inproc) {
    let count = 0;
    ask = async (spec, s) => {
      count++;
      const msgs = buildPrompt(spec);
      const kind: PromptKind = { domain: spec.domain, step: spec.step, variant: spec.variant, medium: spec.medium };
      return parseAnswer(kind, answer(msgs, { catalog, seed: 0, model: 'r4ec-sim', requestSeed: s, adapter: false, behaviour: JSON.parse(process.env.SIM_BEHAVIOUR ?? '{}') }).text);
    };
    requests = () => count;
  } else {
    const sim = await startSimulator({ catalog, models: ['r4ec-sim'], seed: 0 });
    const client = new LlmClient({ endpoint: { baseUrl: `${sim.url}/v1`, model: 'r4ec-sim', concurrency: CONC, timeoutMs: 60_000, temperature: 0.7, topP: 1, maxTokens: 1024 } });
    ask = async (spec, s) => {
      const kind: PromptKind = { domain: spec.domain, step: spec.step, variant: spec.variant, medium: spec.medium };
      const msgs: ChatMessage[] = buildPrompt(spec);
      const r = await client.ask({ messages: msgs, seed: s, parse: (x) => parseAnswer(kind, x), correction: (e) => correctionTurn(kind, e), formatRetries: 0 });
      if (r.status !== 'ok') throw new Error(`simulator answer did not parse: ${r.error}`);
      return r.value;
    };
    requests = () => usersDone ?? sim.stats().requests;
    close = () => sim.close();
  }

  const t1 = performance.now();
  const ut = newTally();
  await pool(users, CONC, (s) => algorithm1(ask, userSpec(s), s.label, 0, ut));
  const secs = (performance.now() - t1) / 1000;
  usersDone = requests();
  report('users (construct, seed 0)', ut);
  if (items.length) {
    const it = newTally();
    await pool(items, CONC, (s) => algorithm1(ask, itemSpec(s), s.label, 0, it));
    report('items (construct, seed 0)', it);
  }
  const sent = requests();
  console.log(`\n${values.inproc ? 'in-process' : 'HTTP'} throughput (users): ${sent} requests in ${secs.toFixed(1)} s = ${(sent / secs).toFixed(0)} requests/s at concurrency ${CONC}`);
  await close();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
