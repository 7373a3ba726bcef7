// The oracle check: knowledge that states a latent the backbone's window cannot see must lift every
// backbone, and the same texts attached to the wrong entities must not. It runs the real path end to
// end: the planted-latent data set → ingest → knowledge files validated against the dataset → the
// ONNX test encoder → vectors in the encode output format → the CTR trainer (normalisation,
// connectors, training loop) → test AUC. A broken row alignment, an encoder that loses the text, a
// connector that cannot learn, or a training loop that ignores the knowledge fails it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BACKBONES } from '../../config/names';
import { preparePlantedCheck, type PlantedCheckInputs } from '../../core/encode/planted-check';

const ROOT = resolve(__dirname, '..', '..');
const PYTHON = resolve(ROOT, '.tools', 'venv', 'bin', 'python');
const ENCODER = resolve(process.env.R4EC_ENCODER_DIR ?? resolve(ROOT, '.tools', 'encoder'));

/** Sized so all six backbones train three variants in a few minutes on one core. */
const PLANTED = { seed: 1, users: 400, items: 300 };
const TRAIN = { epochs: 16, patience: 3, batchSize: 256 };
const MIN_GAIN = 0.05;
const MAX_CONTROL_GAIN = 0.005;

function skipReason(): string | false {
  if (!existsSync(PYTHON)) return `the Python trainer venv is missing at ${PYTHON} (run scripts/setup.sh)`;
  if (!existsSync(join(ENCODER, 'model.onnx'))) return `test encoder not found at ${ENCODER} (run scripts/setup.sh)`;
  return false;
}

interface RunResult {
  name: string;
  auc: number;
  logloss: number;
  bestEpoch: number;
  seconds: number;
}

/** `python -m trainer.ctr.sweep`: one process trains every run (torch and the data load once). */
function sweep(spec: object, dir: string): Promise<RunResult[]> {
  const specFile = join(dir, 'sweep.json');
  writeFileSync(specFile, JSON.stringify(spec));
  return new Promise((resolvePromise, reject) => {
    const child = spawn(PYTHON, ['-m', 'trainer.ctr.sweep', '--spec', specFile], {
      cwd: ROOT,
      env: { ...process.env, PYTHONPATH: ROOT, OMP_NUM_THREADS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const events = out.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { event: string } & Record<string, unknown>);
      const last = events[events.length - 1];
      if (code !== 0 || last?.event !== 'done') return reject(new Error(`trainer.ctr.sweep exited ${code}: ${JSON.stringify(last)}\n${err.slice(-2000)}`));
      resolvePromise(events.filter((e) => e.event === 'run') as unknown as RunResult[]);
    });
  });
}

describe('oracle knowledge through encode and train', { skip: skipReason() }, () => {
  let dir: string;
  let inputs: PlantedCheckInputs;
  const auc = new Map<string, number>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'r4ec-oracle-'));
    const t0 = Date.now();
    inputs = await preparePlantedCheck({ workDir: dir, encoderDir: ENCODER, planted: PLANTED, threads: 1 });
    const knowledge = (set: string) => ({
      set,
      user: join(inputs.encodeDir, set, 'user.npy'),
      userIds: join(inputs.encodeDir, set, 'user.ids.json'),
      item: join(inputs.encodeDir, set, 'item.npy'),
      itemIds: join(inputs.encodeDir, set, 'item.ids.json'),
    });
    const runs = BACKBONES.flatMap((model) => [
      { name: `${model}/base`, model },
      { name: `${model}/oracle`, model, variant: 'r4ec', knowledge: knowledge('oracle') },
      { name: `${model}/shuffled`, model, variant: 'r4ec', knowledge: knowledge('shuffled') },
    ]);
    const t1 = Date.now();
    const results = await sweep({ common: { features: 'paper', seed: 1, data: { dir: inputs.ingestDir }, threads: 1, train: TRAIN }, runs, outDir: join(dir, 'runs') }, dir);
    for (const r of results) auc.set(r.name, r.auc);
    const table = BACKBONES.map((b) => `${b}: base ${auc.get(`${b}/base`)!.toFixed(4)} oracle ${auc.get(`${b}/oracle`)!.toFixed(4)} shuffled ${auc.get(`${b}/shuffled`)!.toFixed(4)}`);
    console.log(`oracle check: data + encode ${((t1 - t0) / 1000).toFixed(0)} s, training ${((Date.now() - t1) / 1000).toFixed(0)} s\n${table.join('\n')}`);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('every knowledge file line was matched to its entity and encoded', () => {
    for (const set of ['oracle', 'shuffled']) {
      const c = inputs.counts[set]!;
      assert.equal(c.user.withKnowledge, c.user.entities, `${set}: every user has a vector`);
      assert.equal(c.item.withKnowledge, c.item.entities, `${set}: every item with training interactions has a vector`);
      assert.equal(c.user.missing + c.item.missing, 0);
    }
    assert.equal(inputs.encoder.dim, 384);
  });

  for (const backbone of BACKBONES) {
    test(`${backbone}: the oracle set gains >= ${MIN_GAIN} AUC over Base, the shuffled control <= ${MAX_CONTROL_GAIN}`, () => {
      const base = auc.get(`${backbone}/base`)!;
      const oracle = auc.get(`${backbone}/oracle`)!;
      const shuffled = auc.get(`${backbone}/shuffled`)!;
      assert.ok(oracle - base >= MIN_GAIN, `oracle ${oracle.toFixed(4)} vs base ${base.toFixed(4)}`);
      assert.ok(shuffled - base <= MAX_CONTROL_GAIN, `shuffled ${shuffled.toFixed(4)} vs base ${base.toFixed(4)}`);
    });
  }
});
