// `r4ec run --knowledge-from DIR` end to end, as a user runs it (a real r4ec process against a real
// dev server and workers): a file with an unknown id fails the run with the file, line and field,
// exit code 1 and nothing of the import, encode or train written; good files skip construct,
// finetune and refine ("skipped", nothing of theirs computed or called), get into the store as
// their own content-keyed output, and are encoded, trained and reported, marked "imported".
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadEncodeDataset } from '../../core/encode/dataset';
import type { ReportData } from '../../core/report/model';
import type { RunSummary } from '../../workflows/run-summary';
import { r4ec as run, type CliResult } from '../helpers/cli';
import { smallPipelineConfig } from '../helpers/pipeline';
import { startTestTemporal, testConfig, withWorkers, type TestTemporal } from '../helpers/temporal';

const work = mkdtempSync(join(tmpdir(), 'r4ec-import-'));
let t: TestTemporal;
before(async () => {
  t = await startTestTemporal();
});
after(async () => {
  await t?.close();
  rmSync(work, { recursive: true, force: true });
});

const r4ec = (args: string[], env: Record<string, string>): Promise<CliResult> => run(args, { cwd: work, env, timeoutMs: 300_000 });

function lines(records: object[]): string {
  return records.map((r) => JSON.stringify(r)).join('\n') + '\n';
}

test('run --knowledge-from: a bad line fails with file:line:field and writes nothing; good files skip construct/finetune/refine and are encoded, trained and reported as imported', async () => {
  const raw = await smallPipelineConfig(work, { train: { backbones: ['deepfm'], variants: ['base', 'kar', 'r2ec', 'r4ec'], epochs: 1, seeds: [1] } }, { users: 20, items: 60, seed: 2 });
  await withWorkers(t, { config: testConfig(raw) }, async ({ config }) => {
    const env = { R4EC__TEMPORAL__ADDRESS: t.address, R4EC_STATE_DIR: t.stateDir };
    const cfg = join(work, 'run.json');
    writeFileSync(cfg, JSON.stringify({ ...raw, queues: { cpu: { name: config.queues.cpu.name }, llm: { name: config.queues.llm.name }, gpu: { name: config.queues.gpu.name } } }));

    // The ids the files must use are the ingested dataset's.
    const ing = await r4ec(['run', '--config', cfg, '--only', 'ingest', '--json', '--run-id', 'import-ingest'], env);
    assert.equal(ing.code, 0, ing.stderr);
    const ingestKey = (JSON.parse(ing.stdout) as RunSummary).artifacts.ingest!.key;
    const ds = await loadEncodeDataset(t.store, ingestKey, { sequences: false });
    const users = ds.userIds;
    const items = ds.itemIds.slice(1) as string[];
    assert.ok(users.length > 5 && items.length > 5);

    // Two sets (kar, r4ec); r2ec is in the config but not imported, so it is not trained.
    const good = join(work, 'knowledge');
    for (const set of ['kar', 'r4ec']) {
      mkdirSync(join(good, set), { recursive: true });
      writeFileSync(join(good, set, 'user.jsonl'), lines(users.map((id, k) => ({ entityId: id, texts: [`${set}: this viewer favours genre ${k % 3}.`], score: 0.5 }))));
      writeFileSync(join(good, set, 'item.jsonl'), lines(items.slice(0, -2).map((id, k) => ({ entityId: id, texts: [`${set}: a title of genre ${k % 3}.`, null] }))));
    }
    writeFileSync(join(good, 'README.txt'), 'made by another pipeline\n');

    // A copy whose r4ec/item.jsonl has an id the dataset does not know on line 3.
    const bad = join(work, 'bad-knowledge');
    cpSync(good, bad, { recursive: true });
    const badItems = items.slice(0, 4).map((id) => ({ entityId: id, texts: ['x'] }));
    badItems[2] = { entityId: 'no-such-item', texts: ['x'] };
    writeFileSync(join(bad, 'r4ec', 'item.jsonl'), lines(badItems));

    const failed = await r4ec(['run', '--config', cfg, '--knowledge-from', bad, '--json'], env);
    assert.equal(failed.code, 1, failed.stderr);
    const fs = JSON.parse(failed.stdout) as RunSummary;
    assert.equal(fs.failure?.code, 'BadKnowledgeData');
    assert.equal(fs.failure?.file, join(bad, 'r4ec', 'item.jsonl'));
    assert.equal(fs.failure?.line, 3);
    assert.equal(fs.failure?.field, 'entityId');
    assert.equal(fs.failure?.found, 'no-such-item');
    assert.match(failed.stderr, /r4ec\/item\.jsonl:3: field "entityId"/);
    assert.equal(fs.stages.construct?.status, 'skipped');
    assert.equal(fs.stages.finetune?.status, 'skipped');
    assert.equal(fs.stages.refine?.status, 'failed');
    assert.equal(fs.stages.encode, undefined, 'nothing after the failed import ran');
    // Nothing written: no knowledge output of any kind, no vectors, no models.
    const stored = async (prefix: string) => (await t.store.list(prefix)).length;
    assert.equal(await stored('refine/'), 0, 'no refine-format output');
    assert.equal(await stored('encode/'), 0);
    assert.equal(await stored('train/'), 0);

    // A layout error is found before anything starts (exit 1, the path named).
    const noSets = join(work, 'empty-knowledge');
    mkdirSync(join(noSets, 'oracle'), { recursive: true });
    const layout = await r4ec(['run', '--config', cfg, '--knowledge-from', noSets, '--json'], env);
    assert.equal(layout.code, 1, layout.stderr);
    assert.equal((JSON.parse(layout.stdout) as RunSummary).failure?.file, join(noSets, 'oracle'));

    const ok = await r4ec(['run', '--config', cfg, '--knowledge-from', good, '--json'], env);
    assert.equal(ok.code, 0, ok.stderr);
    const s = JSON.parse(ok.stdout) as RunSummary;
    assert.deepEqual(
      Object.entries(s.stages).map(([stage, v]) => [stage, v.status]),
      [
        ['ingest', 'skipped'],
        ['construct', 'skipped'],
        ['finetune', 'skipped'],
        ['refine', 'skipped'],
        ['encode', 'completed'],
        ['train', 'completed'],
        ['report', 'completed'],
      ],
    );
    assert.equal(s.construct, undefined);
    assert.equal(s.refine, undefined);
    assert.equal(s.llm.calls, 0, 'no LLM was called');
    assert.deepEqual(s.imported?.sets, ['kar', 'r4ec']);
    assert.deepEqual(s.imported?.records, { kar: { user: users.length, item: items.length - 2 }, r4ec: { user: users.length, item: items.length - 2 } });
    assert.deepEqual(Object.keys(s.train!.results.deepfm!).sort(), ['base', 'kar', 'r4ec'], 'the imported sets and Base are trained; r2ec was not imported');

    // The files are in the store as refine's format, under a key that follows their content.
    const knowledge = s.artifacts.refine!;
    assert.match(knowledge.key, /^refine\//);
    const karUser = (await t.store.get(`${knowledge.key}/kar/user.jsonl`)).toString().trim().split('\n').map((l) => JSON.parse(l) as { entityId: string; index: number; texts: string[] });
    assert.deepEqual(karUser.map((r) => r.entityId), users);
    assert.deepEqual(karUser.map((r) => r.index), users.map((_, k) => k));
    const encodeSummary = s.artifacts.encode!;
    assert.ok(await t.store.exists(`${encodeSummary.key}/kar/user.npy`));

    const report = JSON.parse((await t.store.get(s.report!.json)).toString()) as ReportData;
    assert.deepEqual(report.imported?.sets, ['kar', 'r4ec']);
    assert.deepEqual(report.table.filter((r) => r.imported).map((r) => r.variant), ['kar', 'r4ec']);
    for (const r of report.table.filter((row) => row.variant !== 'base')) assert.ok(r.deltaAuc && r.deltaAuc.lo <= r.deltaAuc.delta && r.deltaAuc.delta <= r.deltaAuc.hi, JSON.stringify(r));
    const html = (await t.store.get(s.report!.html)).toString();
    assert.match(html, /kar <span class="std">\(imported\)<\/span>/);
    assert.match(html, /Knowledge imported from files for <b>kar, r4ec<\/b>/);
    assert.match(html, /<td>construct<\/td><td>skipped \(knowledge imported\)<\/td>/);

    // Other content, another run id and another knowledge output; the same files again re-use it all.
    writeFileSync(join(good, 'kar', 'user.jsonl'), lines(users.map((id) => ({ entityId: id, texts: ['one text for every viewer'] }))));
    const other = await r4ec(['run', '--config', cfg, '--knowledge-from', good, '--json', '--until', 'encode'], env);
    assert.equal(other.code, 0, other.stderr);
    const o = JSON.parse(other.stdout) as RunSummary;
    assert.notEqual(o.runId, s.runId);
    assert.notEqual(o.artifacts.refine!.key, knowledge.key);
    assert.notEqual(o.artifacts.encode!.key, encodeSummary.key);
  });
});
