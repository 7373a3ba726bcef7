// The trainer-job runner with the artifact store (the local directory and S3 on a real versitygw
// server) and with a device pool, against the stand-in trainer writing real checkpoint files:
// checkpoints reach the store as they appear; a job continued on another "machine" (a fresh work
// directory, nothing local) resumes from the newest stored checkpoint; a damaged stored checkpoint is
// passed over; each concurrent trainer gets its own CUDA_VISIBLE_DEVICES.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  DevicePool,
  PythonJobError,
  clearStoredCheckpoints,
  detectGpus,
  devicePoolFor,
  listStoredCheckpoints,
  runPythonJob,
  visibleDevicesOf,
  type CheckpointStoreOptions,
  type JobEvent,
} from '../../core/python-job';
import { LocalStore, type ArtifactStore } from '../../core/store';
import { startTestS3, type TestS3 } from '../helpers/s3';

const FAKE = join(__dirname, 'fake-python.py');
const work = mkdtempSync(join(tmpdir(), 'r4ec-pyjob-ckpt-'));
let s3: TestS3;
before(async () => {
  s3 = await startTestS3();
});
after(async () => {
  await s3.stop();
  rmSync(work, { recursive: true, force: true });
});

let n = 0;
/** A work directory on a "machine" of its own (nothing shared with another's). */
const machineDir = () => join(mkdtempSync(join(work, `machine-${++n}-`)), 'job');

const backends: Array<{ name: string; store: () => Promise<ArtifactStore> }> = [
  { name: 'local', store: async () => new LocalStore(mkdtempSync(join(work, 'store-'))) },
  { name: 's3', store: () => s3.store() },
];

for (const backend of backends) {
  for (const layout of ['file', 'dir'] as const) {
    describe(`${layout} checkpoints in the ${backend.name} store`, () => {
      test('a job killed on one machine resumes from its newest stored checkpoint on another, then the store is cleared', async () => {
        const store = await backend.store();
        const ckptDir = layout === 'dir' ? 'checkpoints' : '';
        const checkpoints: CheckpointStoreOptions = { store, prefix: `checkpoints/test/${layout}`, dir: ckptDir };
        const fake = { steps: 6, stepMs: 30, checkpoints: layout, ckptDir };

        const dirA = machineDir();
        const died = await runPythonJob({ job: 'fake.train', workDir: dirA, spec: { workDir: dirA, fake: { ...fake, dieAt: 4 } }, python: FAKE, pollMs: 20, checkpoints }).then(
          () => assert.fail('the trainer was to die'),
          (e: unknown) => e,
        );
        assert.ok(died instanceof PythonJobError && died.code === 'TrainerExited', String(died));
        const stored = await listStoredCheckpoints(checkpoints);
        assert.deepEqual(stored.map((c) => c.order), [3, 4], 'the newest two are kept in the store');
        assert.equal(stored[1]!.name, layout === 'file' ? 'ckpt-epoch-0004.pt' : 'step-00000004');
        if (layout === 'dir') assert.deepEqual(stored[1]!.files.map((f) => f.rel), ['step-00000004/state.json', 'step-00000004/weights.bin']);

        // Machine A is gone with its disk; machine B starts with an empty work directory.
        rmSync(dirA, { recursive: true, force: true });
        const dirB = machineDir();
        const events: JobEvent[] = [];
        const r = await runPythonJob({ job: 'fake.train', workDir: dirB, spec: { workDir: dirB, fake }, python: FAKE, pollMs: 20, checkpoints, onEvent: (e) => events.push(e) });
        assert.equal(r.state.restoredCheckpoint, stored[1]!.name);
        assert.equal(r.state.startStep, 4, 'resumed after step 4, not from 0');
        assert.deepEqual(events.filter((e) => e.event === 'step').map((e) => e.step), [5, 6]);
        assert.ok(!readdirSync(join(dirB, ckptDir)).some((f) => f.includes('.restore-')), 'no temp left behind');
        assert.deepEqual((await listStoredCheckpoints(checkpoints)).map((c) => c.order), [5, 6]);

        await clearStoredCheckpoints(checkpoints);
        assert.deepEqual(await store.list('checkpoints/test/'), []);
      });
    });
  }

  test(`${backend.name}: a damaged stored checkpoint is passed over for the one before it; a work directory that has the newest restores nothing`, async () => {
    const store = await backend.store();
    const checkpoints: CheckpointStoreOptions = { store, prefix: 'checkpoints/damaged', dir: '' };
    const fake = { steps: 5, stepMs: 20, checkpoints: 'file' };
    const dirA = machineDir();
    await runPythonJob({ job: 'fake.train', workDir: dirA, spec: { workDir: dirA, fake: { ...fake, dieAt: 3 } }, python: FAKE, pollMs: 20, checkpoints }).catch(() => undefined);
    const [older, newest] = await listStoredCheckpoints(checkpoints);
    assert.ok(older && newest);
    await store.put(`checkpoints/damaged/files/${newest.files[0]!.rel}`, 'not the bytes the index names');

    const skipped: string[] = [];
    const dirB = machineDir();
    const r = await runPythonJob({ job: 'fake.train', workDir: dirB, spec: { workDir: dirB, fake }, python: FAKE, pollMs: 20, checkpoints, onCheckpointError: (e) => skipped.push(e.message) });
    assert.equal(r.state.restoredCheckpoint, older.name);
    assert.equal(r.state.startStep, older.order);
    assert.match(skipped.join('\n'), new RegExp(`${newest.name} passed over: .*hashing to`));

    // The same machine again (its checkpoints are there): nothing is downloaded.
    const again = await runPythonJob({ job: 'fake.train', workDir: dirB, spec: { workDir: dirB, fake: { ...fake, steps: 6 } }, python: FAKE, pollMs: 20, checkpoints });
    assert.equal(again.state.restoredCheckpoint, undefined);
    assert.equal(again.state.startStep, 5);
  });
}

describe('gpu device pool', () => {
  test('two trainers at once each get a device of their own; the devices are free again afterwards', async () => {
    const pool = new DevicePool(['0', '1']);
    const starts: Array<string | null | undefined> = [];
    const run = () => {
      const dir = machineDir();
      return runPythonJob({
        job: 'fake.train',
        workDir: dir,
        spec: { workDir: dir, fake: { steps: 4, stepMs: 150 } },
        python: FAKE,
        pollMs: 20,
        devices: pool,
        onEvent: (e) => {
          if (e.event === 'start') starts.push(e.device as string | null | undefined);
        },
      });
    };
    const both = Promise.all([run(), run()]);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(pool.load(), [1, 1], 'one job per device while both run');
    const [a, b] = await both;
    assert.deepEqual(new Set([a.state.device, b.state.device]), new Set(['0', '1']));
    assert.deepEqual([...starts].sort(), ['0', '1'], 'CUDA_VISIBLE_DEVICES as each trainer saw it');
    assert.deepEqual(pool.load(), [0, 0]);

    // Without a pool nothing is set: the trainer inherits the worker's environment.
    const dir = machineDir();
    const env = { ...process.env };
    delete env.CUDA_VISIBLE_DEVICES;
    let seen: unknown = 'unset';
    await runPythonJob({ job: 'fake.train', workDir: dir, spec: { workDir: dir, fake: { steps: 1 } }, python: FAKE, pollMs: 20, env, onEvent: (e) => e.event === 'start' && (seen = e.device) });
    assert.equal(seen, null);
  });

  test('more slots than devices: each job goes to the least busy device, never all to the first', () => {
    const pool = new DevicePool(['0', '1']);
    const leases = [pool.acquire(), pool.acquire(), pool.acquire()];
    assert.deepEqual(leases.map((l) => l.visible), ['0', '1', '0']);
    assert.deepEqual(pool.load(), [2, 1]);
    leases[0]!.release();
    leases[0]!.release();
    assert.deepEqual(pool.load(), [1, 1], 'a double release counts once');
    assert.equal(pool.acquire().visible, '0');
  });

  test('where the devices come from: config, the worker\'s CUDA_VISIBLE_DEVICES, nvidia-smi, or none', () => {
    const smi = 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-aaa)\nGPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-bbb)\n';
    assert.deepEqual(devicePoolFor([2, 3], {}, () => ['0'])?.devices, ['2', '3']);
    assert.deepEqual(devicePoolFor(undefined, { CUDA_VISIBLE_DEVICES: '4,5' }, () => ['0'])?.devices, ['4', '5']);
    assert.deepEqual(devicePoolFor(undefined, {}, () => detectGpus(() => smi))?.devices, ['0', '1']);
    assert.equal(devicePoolFor(undefined, {}, () => detectGpus(() => { throw new Error('nvidia-smi: not found'); })), undefined);
    assert.equal(devicePoolFor(undefined, { CUDA_VISIBLE_DEVICES: '' }, () => ['0']), undefined, 'a worker given no GPU hands out none');
    // In-process ordinals count within the worker's own visible devices.
    const own = devicePoolFor(undefined, { CUDA_VISIBLE_DEVICES: '4,5' })!;
    const l = [own.acquire(), own.acquire()];
    assert.deepEqual(l.map((x) => [x.visible, x.ordinal]), [['4', 0], ['5', 1]]);
    assert.deepEqual([new DevicePool(['0', '1']).acquire().ordinal, new DevicePool(['GPU-aaa']).acquire().ordinal], [0, 0]);
  });

  test('a re-attached trainer keeps the device it was started with: the pool counts it', async () => {
    const child = spawn('sleep', ['5'], { env: { ...process.env, CUDA_VISIBLE_DEVICES: '1' } });
    try {
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(await visibleDevicesOf(child.pid!), '1');
      const pool = new DevicePool(['0', '1']);
      const held = pool.claim(await visibleDevicesOf(child.pid!));
      assert.deepEqual(pool.load(), [0, 1]);
      assert.equal(pool.acquire().visible, '0', 'a new trainer goes to the other device');
      held?.release();
    } finally {
      child.kill('SIGKILL');
    }
  });
});
