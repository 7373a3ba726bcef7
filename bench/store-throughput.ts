// Artifact store throughput, local directory vs S3 (versitygw on loopback), in one run:
// `npx tsx bench/store-throughput.ts [MiB=200] [repeats=3]`. For each store: putFile of a MiB-sized
// file, a streamed get (getStream into a hash), get() into one buffer, localPath (for S3 a download
// into the content-hash cache; for the local store the object itself, no copy) and localPath again
// (for S3 a cache hit: one HEAD). Prints
// the median MB/s per operation, this process's and the S3 server's CPU seconds, and the load.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { LocalStore, type ArtifactStore } from '../core/store';
import { startTestS3 } from '../test/helpers/s3';
import { processTable } from './proc';

const MiB = 1024 * 1024;

function cpuOf(pid: number | undefined): number {
  return pid === undefined ? 0 : (processTable().get(pid)?.cpuSeconds ?? 0);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

async function main(): Promise<void> {
  const mib = Number(process.argv[2] ?? 200);
  const repeats = Number(process.argv[3] ?? 3);
  const work = mkdtempSync(join(tmpdir(), 'r4ec-bench-store-'));
  const s3 = await startTestS3({ dir: join(work, 's3') });
  try {
    const file = join(work, 'artifact.bin');
    const block = randomBytes(MiB);
    const fd = openSync(file, 'w');
    for (let i = 0; i < mib; i++) {
      block.writeUInt32LE(i, 0);
      writeSync(fd, block);
    }
    closeSync(fd);
    const mb = (mib * MiB) / 1e6;
    console.log(JSON.stringify({ bench: 'store-throughput', mib, repeats, loadavgStart: loadavg().map((l) => +l.toFixed(2)), s3Server: 'versitygw (posix backend, loopback)' }));

    const stores: Array<{ name: string; store: ArtifactStore; serverPid?: number }> = [
      { name: 'local', store: new LocalStore(join(work, 'local-store')) },
      { name: 's3', store: await s3.store(), ...(s3.process.pid !== undefined ? { serverPid: s3.process.pid } : {}) },
    ];
    const rows: Array<Record<string, unknown>> = [];
    for (const { name, store, serverPid } of stores) {
      const seconds: Record<string, number[]> = { putFile: [], getStream: [], get: [], localPath: [], localPathCached: [] };
      const cpu0 = process.cpuUsage();
      const server0 = cpuOf(serverPid);
      for (let r = 0; r < repeats; r++) {
        // New bytes each time, so no repeat is served from the content-hash cache of the last.
        const stamp = openSync(file, 'r+');
        writeSync(stamp, Buffer.from(`${name}-${r}-${Date.now()}`), 0, undefined, MiB - 64);
        closeSync(stamp);
        const key = `bench/${r}/artifact.bin`;
        seconds.putFile!.push(await timed(() => store.putFile(key, file)));
        seconds.getStream!.push(await timed(async () => pipeline(await store.getStream(key), createHash('sha256'))));
        seconds.get!.push(await timed(() => store.get(key)));
        seconds.localPath!.push(await timed(() => store.localPath(key)));
        seconds.localPathCached!.push(await timed(() => store.localPath(key)));
      }
      const cpu = process.cpuUsage(cpu0);
      const row = {
        store: name,
        ...Object.fromEntries(Object.entries(seconds).map(([op, s]) => [`${op}MBps`, Math.round(mb / median(s))])),
        clientCpuSeconds: +((cpu.user + cpu.system) / 1e6).toFixed(1),
        serverCpuSeconds: +(cpuOf(serverPid) - server0).toFixed(1),
      };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
    console.log(JSON.stringify({ loadavgEnd: loadavg().map((l) => +l.toFixed(2)) }));
    console.table(rows);
  } finally {
    await s3.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
