// No leakage (docs/DESIGN.md): over every prompt a refine run sends, for both domains, no test-split
// (user, item, rating) appears. User prompts may show only that user's training part; item prompts
// only the training part of one user who rated the item in training (liking / disliking side). Both
// execution modes (batches, a workflow per entity) are checked. A planted leak shows the check can fail.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { DatasetView } from '../../core/data/dataset';
import { LlmClient } from '../../core/llm/client';
import { LlmRegistry } from '../../core/llm/registry';
import type { ChatMessage } from '../../core/llm/types';
import { readHistory, type HistoryEntry } from '../../core/prompts/history';
import type { LlmRole } from '../../config/names';
import { ENTITY_WORKFLOWS, type R4ecConfig } from '../../config/schema';
import { knowledgePrefix } from '../../core/data/history';
import { startTestTemporal, withWorkers, type TestTemporal } from '../helpers/temporal';
import { ingestSynthetic, type Artifact } from '../helpers/dataset';
import { simulatorFor } from '../helpers/simulator';
import { refineConfig } from './fixtures';

interface Captured {
  domain: string;
  entityId: string;
  role: string;
  messages: ChatMessage[];
}

/** A registry whose clients record every prompt with the entity it was asked for. */
class CapturingRegistry extends LlmRegistry {
  readonly captured: Captured[] = [];
  override client(role: LlmRole): LlmClient {
    const c = super.client(role);
    const captured = this.captured;
    return new Proxy(c, {
      get(target, prop, receiver) {
        if (prop !== 'ask') return Reflect.get(target, prop, receiver) as unknown;
        return (req: Parameters<LlmClient['ask']>[0]) => {
          captured.push({ domain: req.meta?.domain ?? '?', entityId: req.meta?.entityId ?? '?', role, messages: req.messages });
          return target.ask(req);
        };
      },
    });
  }
}

function section(text: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(text);
  return m?.[1];
}

/** Every violation of the no-leakage rule in the captured prompts (empty = none). */
function leaks(view: DatasetView, seq: Awaited<ReturnType<DatasetView['sequences']>>, prompts: Captured[]): string[] {
  const itemByTitle = new Map(view.meta.items.map((it, j) => [it.title, j + 1]));
  const parts = (u: number) => {
    const train = new Set<string>();
    const test = new Set<string>();
    for (let p = seq.offsets[u]!; p < seq.offsets[u + 1]!; p++) {
      const key = `${seq.item[p]}:${seq.rating[p]}`;
      (p - seq.offsets[u]! < seq.trainEnd[u]! ? train : test).add(key);
    }
    return { train, test };
  };
  const byUser = view.meta.users.map((_, u) => parts(u));
  const keysOf = (h: HistoryEntry[], where: string, out: string[]): string[] =>
    h.map((e) => {
      const item = itemByTitle.get(e.title);
      if (item === undefined) out.push(`${where}: unknown title ${e.title}`);
      return `${item}:${e.rating}`;
    });
  const out: string[] = [];
  for (const p of prompts) {
    const text = p.messages.map((m) => m.content).join('\n');
    const where = `${p.domain} ${p.entityId} (${p.role})`;
    if (p.domain === 'user') {
      const u = view.meta.users.indexOf(p.entityId);
      const h = readHistory(section(text, 'User History') ?? '') ?? [];
      for (const k of keysOf(h, where, out)) {
        if (byUser[u]!.test.has(k) && !byUser[u]!.train.has(k)) out.push(`${where}: test interaction ${k} in the prompt`);
        else if (!byUser[u]!.train.has(k)) out.push(`${where}: ${k} is not in the user's training part`);
      }
      continue;
    }
    const item = view.meta.items.findIndex((it) => it.id === p.entityId) + 1;
    for (const [tag, liking] of [['Like User History', true], ['Dislike User History', false]] as const) {
      const h = readHistory(section(text, tag) ?? '');
      if (h === null) continue;
      const keys = keysOf(h, where, out);
      if (keys.some((k) => k.startsWith(`${item}:`))) out.push(`${where}: the item itself in ${tag}`);
      // Some user who rated this item on this side in training has every shown interaction in training.
      const ok = byUser.some((b) => [...b.train].some((k) => k.startsWith(`${item}:`) && (Number(k.split(':')[1]) > view.meta.labelThreshold) === liking) && keys.every((k) => b.train.has(k)));
      if (!ok) out.push(`${where}: ${tag} is not the training part of a ${liking ? 'liking' : 'disliking'} rater`);
    }
  }
  return out;
}

let t: TestTemporal;
let data: { ingest: Artifact; view: DatasetView };
before(async () => {
  t = await startTestTemporal();
  data = await ingestSynthetic(t.store, { users: 15, items: 60, seed: 9 });
});
after(async () => {
  await t?.close();
});

/** Runs refine (item, then user) with a capturing registry and returns every prompt it sent. */
async function capturedRun(config: R4ecConfig, runId: string): Promise<Captured[]> {
  const s = await simulatorFor(t.store, data.ingest.key, config, t.stateDir);
  const registry = new CapturingRegistry({ llm: config.llm, stateDir: t.stateDir, env: {}, simulatorUrl: s.sim.url });
  try {
    await withWorkers(t, { config, queues: ['cpu', 'llm'], deps: { llm: registry } as object }, async ({ config: c }) => {
      for (const domain of ['item', 'user'] as const) {
        await t.client.workflow.execute('refineKnowledgeWorkflow', {
          taskQueue: c.queues.cpu.name,
          workflowId: `${runId}/refine/${domain}`,
          args: [{ runId, config: c, artifacts: { ingest: data.ingest }, domain }],
        });
      }
    });
  } finally {
    await s.close();
  }
  return registry.captured;
}

for (const mode of ENTITY_WORKFLOWS) {
  test(`refine [entityWorkflows: ${mode}]: no prompt of a refine run (both domains, every step) shows a test-split interaction`, async () => {
    const config = refineConfig({ refine: { maxIterations: 2, entityWorkflows: mode }, llm: { simulator: { model: `sim-leak-${mode}` } } });
    const prompts = await capturedRun(config, `leak-${mode}-${Date.now()}`);
    const seq = await data.view.sequences();
    const steps = new Set(prompts.map((p) => `${p.domain}/${p.role}`));
    assert.ok(steps.has('user/actor') && steps.has('user/reflection') && steps.has('item/actor') && steps.has('item/reflection'), [...steps].join(','));
    assert.ok(prompts.filter((p) => p.domain === 'user').length >= data.view.meta.users.length * 2);
    assert.deepEqual(leaks(data.view, seq, prompts), []);
    // Users with a test part exist, so the check had something to catch.
    assert.ok(data.view.meta.users.some((_, u) => seq.offsets[u + 1]! - seq.offsets[u]! > seq.trainEnd[u]!));

    // A planted leak: one user prompt gets that user's first test interaction appended.
    const u = data.view.meta.users.findIndex((_, i) => seq.offsets[i + 1]! - seq.offsets[i]! > seq.trainEnd[i]!);
    const p = seq.offsets[u]! + seq.trainEnd[u]!;
    const title = data.view.meta.items[seq.item[p]! - 1]!.title;
    const victim = prompts.find((x) => x.domain === 'user' && x.entityId === data.view.meta.users[u])!;
    const planted = { ...victim, messages: victim.messages.map((m) => ({ ...m, content: m.content.replace('</User History>', `, ${JSON.stringify([title, seq.rating[p]])}</User History>`) })) };
    const found = leaks(data.view, seq, [planted]);
    assert.equal(found.length, 1, found.join('\n'));
  });
}

test('refine with train.knowledgeCutoff 0.5: no prompt shows a position at or after a user\'s cutoff floor(0.5 · train_end)', async () => {
  const config = refineConfig({ refine: { maxIterations: 2 }, train: { knowledgeCutoff: 0.5 }, llm: { simulator: { model: 'sim-leak-cutoff' } } });
  const prompts = await capturedRun(config, `leak-cutoff-${Date.now()}`);
  const seq = await data.view.sequences();
  const prefix = knowledgePrefix(seq, 0.5);
  assert.ok(prompts.filter((p) => p.domain === 'user').length >= data.view.meta.users.length * 2);
  assert.ok(prompts.some((p) => p.domain === 'item'), 'item prompts were sent');
  // Every history shown lies in the prefix: user prompts in the user's own, item prompts in a rater's
  // (who rated the item on that side inside their prefix).
  assert.deepEqual(leaks(data.view, prefix, prompts), []);
  // The prompts still show something: the cutoff shortens histories, it does not empty them.
  assert.ok(prompts.some((p) => p.domain === 'user' && (readHistory(section(p.messages.map((m) => m.content).join('\n'), 'User History') ?? '') ?? []).length > 0));

  // The check catches a training interaction past the cutoff: append user u's position c_u.
  const u = data.view.meta.users.findIndex((_, i) => prefix.trainEnd[i]! < seq.trainEnd[i]! && prefix.trainEnd[i]! > 0);
  assert.ok(u >= 0, 'some user has training interactions past the cutoff');
  const p = seq.offsets[u]! + prefix.trainEnd[u]!;
  const title = data.view.meta.items[seq.item[p]! - 1]!.title;
  const victim = prompts.find((x) => x.domain === 'user' && x.entityId === data.view.meta.users[u])!;
  const planted = { ...victim, messages: victim.messages.map((m) => ({ ...m, content: m.content.replace('</User History>', `, ${JSON.stringify([title, seq.rating[p]])}</User History>`) })) };
  const found = leaks(data.view, prefix, [planted]);
  assert.equal(found.length, 1, found.join('\n'));
});
