// The simulator as a teacher on real data: on shared ML-1M training samples its verdicts beat the
// majority class by at least 5 points and stay below 90%; its reflections flag a clear share of
// its wrong answers and some right ones, so every branch of Algorithm 1 occurs; refined answers
// are more often right. In-process (no HTTP) to stay fast; the bench measures the same over HTTP.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAnswer, type JudgementAnswer, type VerdictAnswer } from '../../core/llm/parse';
import { buildPrompt, type PromptSpec } from '../../core/prompts/builders';
import { answer } from '../../core/sim/answer';
import { Catalog } from '../../core/sim/catalog';
import { loadMl1mSamples } from '../../bench/sim-samples';
import { sharedPath, skipWithoutShared } from '../helpers/data';

test('verdict accuracy, reflection flags and Algorithm 1 branches on shared ML-1M training samples', { skip: skipWithoutShared('ml-1m') }, async () => {
  const data = await loadMl1mSamples(sharedPath('ml-1m'), 1500);
  const catalog = new Catalog(data.catalog);
  const ask = (spec: PromptSpec) => {
    const kind = { domain: spec.domain, step: spec.step, variant: spec.variant, medium: spec.medium };
    return parseAnswer(kind, answer(buildPrompt(spec), { catalog, seed: 0, model: 'r4ec-sim', requestSeed: 0, adapter: false }).text);
  };
  const samples = data.userSamples(1500, 11);
  let correct = 0;
  let positives = 0;
  let wrong = 0;
  let wrongFlagged = 0;
  let right = 0;
  let rightFlagged = 0;
  let refinedRight = 0;
  const outcomes: Record<string, number> = {};
  for (const s of samples) {
    const base: PromptSpec = { domain: 'user', step: 'reason', variant: 'construct', medium: 'movie', history: s.history, target: s.target };
    const r = ask(base) as VerdictAnswer;
    const j = ask({ ...base, step: 'reflect', previous: r.knowledge }) as JudgementAnswer;
    const ok = r.like === s.label;
    positives += s.label ? 1 : 0;
    correct += ok ? 1 : 0;
    if (ok) {
      right++;
      rightFlagged += j.reasonable ? 0 : 1;
    } else {
      wrong++;
      wrongFlagged += j.reasonable ? 0 : 1;
    }
    let outcome = j.reasonable ? (ok ? 'kept_reason' : 'discard_wrong_reasonable') : ok ? 'discard_correct_unreasonable' : '';
    if (!outcome) {
      const f = ask({ ...base, step: 'refine', previous: r.knowledge, reflection: j.reflection }) as VerdictAnswer;
      refinedRight += f.like === s.label ? 1 : 0;
      outcome = f.like === s.label ? 'kept_refine' : 'discard_refine_wrong';
    }
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  }
  const n = samples.length;
  const accuracy = correct / n;
  const majority = Math.max(positives, n - positives) / n;
  const detail = `accuracy ${accuracy.toFixed(3)} majority ${majority.toFixed(3)} wrong flagged ${wrongFlagged}/${wrong} right flagged ${rightFlagged}/${right} outcomes ${JSON.stringify(outcomes)}`;
  assert.ok(accuracy >= majority + 0.05, detail);
  assert.ok(accuracy < 0.9, detail);
  assert.ok(wrongFlagged / wrong >= 0.15, detail);
  assert.ok(rightFlagged > 0 && rightFlagged / right < wrongFlagged / wrong, detail);
  for (const o of ['kept_reason', 'kept_refine', 'discard_correct_unreasonable', 'discard_wrong_reasonable', 'discard_refine_wrong']) {
    assert.ok((outcomes[o] ?? 0) > 0, `${o} never occurred: ${detail}`);
  }
  // Refinement turns flagged wrong answers into right ones more often than not.
  assert.ok(refinedRight / wrongFlagged > 0.5, detail);
});
