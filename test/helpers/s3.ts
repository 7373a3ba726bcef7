// A real S3-compatible server for tests and benches: versitygw (Apache-2.0) from scripts/setup.sh,
// serving a temp directory on a free loopback port with fresh random credentials. Nothing is
// mocked at the S3 level.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { S3Store, type S3StoreOptions } from '../../core/store/s3';
import { freePort } from './processes';

const root = resolve(__dirname, '..', '..');
// The pinned SDK warns once per process that its releases after January 2027 need Node 22.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export function versitygwBinary(env: NodeJS.ProcessEnv = process.env): string {
  if (env.R4EC_VERSITYGW_BIN) return env.R4EC_VERSITYGW_BIN;
  const local = resolve(root, '.tools', 'versitygw');
  if (!existsSync(local)) throw new Error('the S3 test server is not installed: run `bash scripts/setup.sh` (it builds versitygw with `go install`), or set R4EC_VERSITYGW_BIN');
  return local;
}

export interface TestS3 {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The standard AWS variables a worker process needs for this server (the default credential chain). */
  env: Record<string, string>;
  /** Creates a bucket (names must be 3-63 chars of a-z0-9.-). */
  createBucket(name: string): Promise<void>;
  /** An S3Store on a bucket of this server, caching under its own temp dir. */
  store(opts?: Partial<S3StoreOptions> & { bucket?: string }): Promise<S3Store>;
  /** The server process (tests may SIGKILL it). */
  process: ChildProcess;
  stop(): Promise<void>;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const sock = connect({ port, host: '127.0.0.1' });
    sock.once('connect', () => (sock.destroy(), res(true)));
    sock.once('error', () => (sock.destroy(), res(false)));
  });
}


export async function startTestS3(opts: { dir?: string } = {}): Promise<TestS3> {
  const dataDir = opts.dir ?? mkdtempSync(join(tmpdir(), 'r4ec-s3-'));
  mkdirSync(dataDir, { recursive: true });
  const cacheRoot = mkdtempSync(join(tmpdir(), 'r4ec-s3-cache-'));
  const accessKeyId = `test${randomBytes(6).toString('hex')}`;
  const secretAccessKey = randomBytes(24).toString('base64url');
  const region = 'us-east-1';
  let lastErr = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    let log = '';
    // Metadata (xattrs) stays on: it holds ETags and content hashes, and conditional writes need it.
    // Keep-alive on, as on AWS S3 and every production server: versitygw closes each connection after
    // one request by default, which would cost every store call a new TCP connection.
    const child = spawn(versitygwBinary(), ['--port', `127.0.0.1:${port}`, '--keep-alive', '--quiet', 'posix', dataDir], {
      env: { ...process.env, ROOT_ACCESS_KEY: accessKeyId, ROOT_SECRET_KEY: secretAccessKey },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const endpoint = `http://127.0.0.1:${port}`;
    const admin = new S3Client({ endpoint, region, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } });
    const createBucket = async (name: string) => {
      await admin.send(new CreateBucketCommand({ Bucket: name }));
    };
    let up = false;
    for (let i = 0; i < 300 && child.exitCode === null && !up; i++) {
      up = await portOpen(port);
      if (!up) await new Promise((r) => setTimeout(r, 50));
    }
    if (!up) {
      child.kill('SIGKILL');
      await exited;
      lastErr = log;
      // Only a port taken between freePort() and the bind is worth another try.
      if (/address already in use/i.test(log)) continue;
      throw new Error(`versitygw did not start:\n${log}`);
    }
    await createBucket('r4ec-probe-up');
    let n = 0;
    const env = { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_REGION: region, AWS_EC2_METADATA_DISABLED: 'true' };
    return {
      endpoint,
      region,
      accessKeyId,
      secretAccessKey,
      env,
      createBucket,
      process: child,
      async store(o = {}) {
        const bucket = o.bucket ?? `r4ec-test-${++n}`;
        if (!o.bucket) await createBucket(bucket);
        return new S3Store({ bucket, endpoint, region, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey }, cacheDir: mkdtempSync(join(cacheRoot, 'c-')), ...o });
      },
      async stop() {
        admin.destroy();
        if (child.exitCode === null) {
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(t);
        }
        if (!opts.dir) rmSync(dataDir, { recursive: true, force: true });
        rmSync(cacheRoot, { recursive: true, force: true });
      },
    };
  }
  throw new Error(`versitygw did not start on a loopback port after 5 tries:\n${lastErr}`);
}
