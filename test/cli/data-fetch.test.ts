// `r4ec data fetch` offline, against a real HTTP server of the test's own on 127.0.0.1 (`--url`, with
// `--sha256` for the test's archive): the archive lands under its final name only once complete and
// verified; a wrong checksum, a cut connection or an HTTP error leave nothing; no network, or a
// server that stops sending, fails within the idle timeout with a message naming the cause.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { r4ec as run, type CliResult } from '../helpers/cli';
import { freePort } from '../helpers/processes';
import { movieLines, ratingLines, userLines } from '../data/fixtures';

const work = mkdtempSync(join(tmpdir(), 'r4ec-fetch-'));
const r4ec = (args: string[], timeoutMs = 60_000): Promise<CliResult> => run(['data', 'fetch', 'ml-1m', ...args], { cwd: work, env: { R4EC_STATE_DIR: join(work, 'state') }, timeoutMs });
let n = 0;
const outDir = () => join(work, `out-${++n}`);

/** CRC-32 (IEEE) of a buffer, for the zip headers. */
function crc32(b: Buffer): number {
  let c = ~0;
  for (const byte of b) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** A zip archive (stored entries) of `files`: the layout of the published ml-1m.zip, in small. */
function zipOf(files: Record<string, Buffer>): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(files)) {
    const nameBuf = Buffer.from(name);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    const dir = Buffer.alloc(46);
    dir.writeUInt32LE(0x02014b50, 0);
    dir.writeUInt16LE(20, 4);
    dir.writeUInt16LE(20, 6);
    dir.writeUInt32LE(crc, 16);
    dir.writeUInt32LE(data.length, 20);
    dir.writeUInt32LE(data.length, 24);
    dir.writeUInt16LE(nameBuf.length, 28);
    dir.writeUInt32LE(offset, 42);
    locals.push(local, nameBuf, data);
    central.push(dir, nameBuf);
    offset += 30 + nameBuf.length + data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(files).length, 8);
  end.writeUInt16LE(Object.keys(files).length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

const ZIP = zipOf({
  'ml-1m/movies.dat': Buffer.from(movieLines().join('\n') + '\n', 'latin1'),
  'ml-1m/users.dat': Buffer.from(userLines().join('\n') + '\n'),
  'ml-1m/ratings.dat': Buffer.from(ratingLines().join('\n') + '\n'),
});
const SHA = createHash('sha256').update(ZIP).digest('hex');
const half = Math.floor(ZIP.length / 2);

let server: Server;
let base: string;
const requests: string[] = [];
/** Resolved by the test: the paused download may send its second half. */
let release: () => void = () => {};
let paused: () => void = () => {};

function head(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/zip', 'content-length': ZIP.length });
}

before(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    void (async () => {
      switch (req.url) {
        case '/ml-1m.zip':
          head(res);
          return res.end(ZIP);
        case '/paused.zip': {
          // Half the archive, then nothing until the test has looked at the output folder.
          const go = new Promise<void>((r) => (release = r));
          head(res);
          res.write(ZIP.subarray(0, half));
          paused();
          await go;
          return res.end(ZIP.subarray(half));
        }
        case '/cut.zip':
          head(res);
          res.write(ZIP.subarray(0, half));
          await sleep(200);
          return res.destroy();
        case '/slow.zip':
          // Five pieces 400 ms apart: 1.6 s in all, never a second without data.
          head(res);
          for (let i = 0; i < 5; i++) {
            res.write(ZIP.subarray(Math.floor((i * ZIP.length) / 5), Math.floor(((i + 1) * ZIP.length) / 5)));
            if (i < 4) await sleep(400);
          }
          return res.end();
        case '/silent.zip':
          return; // accepts the request and never answers
        default:
          res.writeHead(404).end('not here');
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(async () => {
  release();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(work, { recursive: true, force: true });
});

test('the archive is verified and appears under its final name only when complete; a second fetch downloads nothing', async () => {
  const out = outDir();
  const sent = new Promise<void>((r) => (paused = r));
  const fetching = r4ec(['--out', out, '--url', `${base}/paused.zip`, '--sha256', SHA]);
  await sent;
  // Mid-download: only the partial file, never a truncated ml-1m.zip a later run would take as done.
  let names: string[] = [];
  for (let i = 0; i < 100 && names.length === 0; i++) {
    names = readdirSync(out);
    if (names.length === 0) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(names.length, 1, names.join(', '));
  assert.match(names[0]!, /^ml-1m\.zip\.partial-\d+$/);
  release();
  const r = await fetching;
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readdirSync(out), ['ml-1m.zip']);
  assert.ok(readFileSync(join(out, 'ml-1m.zip')).equals(ZIP), 'the archive byte for byte');
  assert.match(r.stderr, /fetched .*ml-1m\.zip \(sha256 verified\)/);

  const before = requests.length;
  const again = await r4ec(['--out', out, '--url', `${base}/paused.zip`, '--sha256', SHA]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /ml-1m\.zip already present/);
  assert.equal(requests.length, before, 'no request for an archive already present');
});

test('a wrong checksum, a cut connection and an HTTP error each fail, name the cause and leave nothing', async () => {
  const other = createHash('sha256').update('another archive').digest('hex');
  const cases: Array<[string[], RegExp]> = [
    [['--url', `${base}/ml-1m.zip`, '--sha256', other], new RegExp(`checksum mismatch: expected sha256 ${other}, got ${SHA}`)],
    [['--url', `${base}/cut.zip`, '--sha256', SHA], new RegExp(`cannot fetch ml-1m from ${base}/cut\\.zip: `)],
    [['--url', `${base}/gone.zip`, '--sha256', SHA], /cannot fetch ml-1m from .*gone\.zip: HTTP 404/],
  ];
  for (const [args, message] of cases) {
    const out = outDir();
    const r = await r4ec(['--out', out, ...args]);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /suggestion: download it by hand/);
    assert.deepEqual(readdirSync(out), [], `${args.join(' ')} left files behind`);
  }
  // The published checksum is the default: the test's archive is not ml-1m.
  const out = outDir();
  const r = await r4ec(['--out', out, '--url', `${base}/ml-1m.zip`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /checksum mismatch: expected sha256 a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20/);
  assert.deepEqual(readdirSync(out), []);
});

test('no network fails fast: a refused connection at once, a silent server after the idle timeout', async () => {
  const closed = `http://127.0.0.1:${await freePort()}/ml-1m.zip`;
  const refused = await r4ec(['--out', outDir(), '--url', closed, '--timeout-s', '20']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`cannot fetch ml-1m from ${closed}: ECONNREFUSED`));
  assert.ok(refused.ms < 15_000, `took ${refused.ms} ms`);

  const out = outDir();
  const silent = await r4ec(['--out', out, '--url', `${base}/silent.zip`, '--timeout-s', '1']);
  assert.equal(silent.code, 1);
  assert.match(silent.stderr, /cannot fetch ml-1m from .*silent\.zip: no data from the server for 1 s/);
  assert.ok(silent.ms < 15_000, `took ${silent.ms} ms`);
  assert.deepEqual(readdirSync(out), []);
});

test('the timeout is for silence, not for the whole download: a slow, steady server finishes', async () => {
  const out = outDir();
  const r = await r4ec(['--out', out, '--url', `${base}/slow.zip`, '--sha256', SHA, '--timeout-s', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(readFileSync(join(out, 'ml-1m.zip')).equals(ZIP));
});

test('bad flags exit 2 before anything is fetched', async () => {
  const before = requests.length;
  const badSha = await r4ec(['--out', outDir(), '--url', `${base}/ml-1m.zip`, '--sha256', 'abc']);
  assert.equal(badSha.code, 2);
  assert.match(badSha.stderr, /--sha256: expected 64 hex digits, got "abc"/);
  const badUrl = await r4ec(['--out', outDir(), '--url', 'ftp://example/ml-1m.zip']);
  assert.equal(badUrl.code, 2);
  assert.match(badUrl.stderr, /--url: expected an http\(s\) address/);
  const unknown = await run(['data', 'fetch', 'netflix'], { cwd: work });
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown data set "netflix"/);
  assert.equal(requests.length, before);
});
