// Small SFT data for the finetune tests: answers are a function of the prompt, so a model can learn them.
import type { SftRecord } from '../../core/finetune';

const GENRES = ['drama', 'comedy', 'horror', 'western', 'romance', 'thriller', 'animation', 'documentary'];

export function sftRecords(n: number, offset = 0): SftRecord[] {
  return Array.from({ length: n }, (_, k) => {
    const i = k + offset;
    const liked = GENRES[i % GENRES.length]!;
    const disliked = GENRES[(i * 3 + 1) % GENRES.length]!;
    return {
      messages: [
        { role: 'system', content: 'You are an experienced analyst for a recommender system.' },
        { role: 'user', content: `User ${i} rated ${liked} films 5 and ${disliked} films 1. Summarize the user preference.` },
        { role: 'assistant', content: `The user enjoys ${liked} and avoids ${disliked}.` },
      ],
    } as SftRecord;
  });
}

export function sftLine(i: number): string {
  return JSON.stringify(sftRecords(1, i)[0]);
}

export function sftJsonl(n: number, offset = 0): string {
  return sftRecords(n, offset).map((r) => JSON.stringify(r)).join('\n') + '\n';
}
