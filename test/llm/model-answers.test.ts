// The parser meets real model output: answers SmolLM2-135M-Instruct (untuned) gave to every R4ec
// prompt kind, recorded by scripts/record-model-answers.ts. Every answer parses into its typed result
// or fails as a FormatError with a known code — never another exception — and the prompts they answer
// still build from their recorded specs.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { FormatError, parseAnswer } from '../../core/llm/parse';
import { buildPrompt, PromptSpecSchema, promptKindOf } from '../../core/prompts/builders';
import { kindLabel } from '../../core/prompts/tags';

const DIR = join(__dirname, '..', 'fixtures', 'model-answers');
const CODES = new Set(['empty', 'missing_knowledge', 'missing_verdict', 'ambiguous_verdict', 'missing_judgement', 'ambiguous_judgement', 'missing_reflection', 'template_echo']);

const Fixture = z.object({
  model: z.string(),
  /** The prompt variants recorded (a tuned adapter answers inference prompts only). */
  variants: z.array(z.enum(['construct', 'inference'])).default(['construct', 'inference']),
  answers: z.array(
    z.object({ kind: z.string(), spec: PromptSpecSchema, params: z.record(z.string(), z.unknown()), answer: z.string(), finishReason: z.enum(['stop', 'length']) }),
  ),
});

const files = existsSync(DIR) ? readdirSync(DIR).filter((f) => f.endsWith('.json')) : [];

const none = files.length === 0 ? `no recorded answers in ${DIR} (record them: npx tsx scripts/record-model-answers.ts)` : false;

test('recorded model answers exist for every prompt kind', { skip: none }, () => {
  for (const f of files) {
    const { answers, variants } = Fixture.parse(JSON.parse(readFileSync(join(DIR, f), 'utf8')));
    const kinds = new Set(answers.map((a) => a.kind));
    for (const domain of ['user', 'item'])
      for (const step of ['reason', 'reflect', 'refine'])
        for (const variant of variants) assert.ok(kinds.has(`${domain}.${step}.${variant}.movie`), `${f}: no ${domain}.${step}.${variant} answers`);
  }
});

for (const f of files) {
  test(`${f}: every answer parses or fails as a typed FormatError`, (t) => {
    const fixture = Fixture.parse(JSON.parse(readFileSync(join(DIR, f), 'utf8')));
    const tally = new Map<string, { parsed: number; failed: Map<string, number> }>();
    for (const [i, a] of fixture.answers.entries()) {
      const kind = promptKindOf(a.spec);
      assert.equal(kindLabel(kind), a.kind, `answer ${i}: kind matches its spec`);
      assert.ok(buildPrompt(a.spec).length === 2, `answer ${i}: its prompt builds`);
      const row = tally.get(a.kind) ?? { parsed: 0, failed: new Map<string, number>() };
      tally.set(a.kind, row);
      try {
        const parsed = parseAnswer(kind, a.answer);
        if (parsed.type === 'judgement') assert.equal(typeof parsed.reasonable, 'boolean');
        else assert.ok(parsed.knowledge.trim().split(/\s+/).length >= 8, `answer ${i}: parsed knowledge has substance`);
        if (parsed.type === 'verdict') assert.equal(typeof parsed.like, 'boolean');
        row.parsed++;
      } catch (e) {
        assert.ok(e instanceof FormatError, `answer ${i} (${a.kind}) threw ${String(e)} instead of a FormatError:\n${a.answer}`);
        assert.ok(CODES.has(e.code), `answer ${i}: unknown code ${e.code}`);
        row.failed.set(e.code, (row.failed.get(e.code) ?? 0) + 1);
      }
    }
    for (const [kind, row] of [...tally].sort()) {
      const failed = [...row.failed].map(([c, n]) => `${c} ${n}`).join(', ');
      t.diagnostic(`${kind}: ${row.parsed} parse, ${[...row.failed.values()].reduce((x, y) => x + y, 0)} format errors${failed ? ` (${failed})` : ''}`);
    }
    // An untuned model does not follow the R4ec format everywhere: the fixtures must hold broken answers.
    assert.ok([...tally.values()].some((r) => r.failed.size > 0), 'some recorded answers are broken');
  });
}
