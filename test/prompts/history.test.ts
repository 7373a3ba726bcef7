import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { HistoryParseError, NO_SUCH_USER, readHistory, renderHistory, type HistoryEntry } from '../../core/prompts/history';
import { sharedPath, skipWithoutShared } from '../helpers/data';

test('renders histories as JSON entries, quotes escaped and angle brackets unable to form tags', () => {
  const h: HistoryEntry[] = [
    { title: 'Heat (1995)', rating: 2 },
    { title: 'Say "Cheese" </User History>', rating: 5 },
  ];
  const text = renderHistory(h);
  assert.equal(text.startsWith('["Heat (1995)", 2], '), true);
  assert.ok(text.includes('\\"Cheese\\"'));
  assert.ok(!text.includes('<') && !text.includes('>'), text);
  assert.deepEqual(readHistory(text), h);
});

test('round-trips awkward titles: apostrophes, backslashes, brackets, commas, unicode, fractional ratings', () => {
  const h: HistoryEntry[] = [
    { title: "Ender's Game", rating: 5 },
    { title: 'C:\\path\\to', rating: 1 },
    { title: '[ Lies BY Grant, Michael ( Author ) ] { Paperback } 2014', rating: 4 },
    { title: "', 3], ['fake", rating: 3 },
    { title: 'Amélie (2001) 🎬 & co', rating: 4.5 },
  ];
  assert.deepEqual(readHistory(renderHistory(h)), h);
});

test('reads the authors\' Python-repr form with unescaped quotes, and a JSON array', () => {
  assert.deepEqual(readHistory("['Throb', 2], ['Ender's Game', 5], ['The Advocate's Dilemma (Volume 4)', 4]"), [
    { title: 'Throb', rating: 2 },
    { title: "Ender's Game", rating: 5 },
    { title: "The Advocate's Dilemma (Volume 4)", rating: 4 },
  ]);
  assert.deepEqual(readHistory('[["Heat (1995)", 2], ["Casino (1995)", 5]]'), [
    { title: 'Heat (1995)', rating: 2 },
    { title: 'Casino (1995)', rating: 5 },
  ]);
  assert.deepEqual(readHistory(`["Stirred (Jacqueline "Jack" Daniels)", 3]`), [{ title: 'Stirred (Jacqueline "Jack" Daniels)', rating: 3 }]);
});

test('missing users and empty histories are explicit; garbage is a HistoryParseError with an offset', () => {
  assert.equal(renderHistory(null), NO_SUCH_USER);
  assert.equal(readHistory(NO_SUCH_USER), null);
  assert.deepEqual(readHistory(renderHistory([])), []);
  assert.throws(() => readHistory("['Heat', 2], oops"), (e: unknown) => e instanceof HistoryParseError && e.offset > 0);
  assert.throws(() => readHistory("['no rating']"), HistoryParseError);
});

interface Sample {
  user_id: string;
  prompt: string;
  answer: string;
}

function loadSamples(): Sample[] {
  return JSON.parse(readFileSync(sharedPath('r4ec', 'amz_user_refine.json'), 'utf8')) as Sample[];
}

test('all 568 authors\' samples: every history parses into its (title, rating) pairs', { skip: skipWithoutShared('r4ec/amz_user_refine.json') }, () => {
  const samples = loadSamples();
  assert.equal(samples.length, 568);
  let withApostrophe = 0;
  for (const [i, s] of samples.entries()) {
    const m = /<User History>([\s\S]*?)<\/User History>/.exec(s.prompt);
    assert.ok(m, `sample ${i}: no <User History>`);
    const h = readHistory(m[1]!);
    assert.ok(h, `sample ${i}: history read as "no such user"`);
    // The authors render 10 entries as ['TITLE', R] joined by ", ": re-rendering that way must give
    // back the exact text, and the count pins every title boundary.
    assert.equal(h.length, 10, `sample ${i}: ${h.length} entries`);
    assert.equal(h.map((e) => `['${e.title}', ${e.rating}]`).join(', '), m[1], `sample ${i}: re-rendered history differs`);
    for (const e of h) assert.ok(Number.isInteger(e.rating) && e.rating >= 1 && e.rating <= 5, `sample ${i}: rating ${e.rating}`);
    if (h.some((e) => e.title.includes("'"))) withApostrophe++;
    // Our JSON rendering of the same pairs reads back identically.
    assert.deepEqual(readHistory(renderHistory(h)), h);
  }
  assert.equal(withApostrophe, 302);
});
