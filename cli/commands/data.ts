import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SYNTH_DEFAULTS, synthesizeDataset } from '../../core/data/synth';
import { R4ecError } from '../../core/errors';
import { stateDirFrom } from '../../runtime/paths';
import { positiveInt, str, type Command } from '../args';

export const dataSynthCommand: Command = {
  name: 'data synth',
  summary: 'write the synthetic MovieLens-format data set (planted genre preferences; seeded, deterministic)',
  usage: 'r4ec data synth [--out DIR] [--seed 1] [--users 300] [--items 400]',
  options: {
    out: { type: 'string', description: 'output directory (default $R4EC_STATE_DIR/data/synthetic)' },
    seed: { type: 'string', description: 'PRNG seed (default 1)' },
    users: { type: 'string', description: 'number of users (default 300)' },
    items: { type: 'string', description: 'number of items (default 400)' },
  },
  async run({ values }) {
    const outDir = resolve(str(values.out) ?? join(stateDirFrom(process.env), 'data', 'synthetic'));
    const r = await synthesizeDataset({
      outDir,
      seed: positiveInt(str(values.seed), 'seed', SYNTH_DEFAULTS.seed),
      users: positiveInt(str(values.users), 'users', SYNTH_DEFAULTS.users),
      items: positiveInt(str(values.items), 'items', SYNTH_DEFAULTS.items),
    });
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return 0;
  },
};

/** The public homes of the data sets, with the checksums of the published archives. */
const SOURCES: Record<string, { url: string; sha256: string; file: string }> = {
  'ml-1m': {
    url: 'https://files.grouplens.org/datasets/movielens/ml-1m.zip',
    // GroupLens's published archive (MD5 c4d9eecfca2ab87c1945afe126590906).
    sha256: 'a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20',
    file: 'ml-1m.zip',
  },
};

export const dataFetchCommand: Command = {
  name: 'data fetch',
  summary: 'download a data set from its public home, verifying its checksum (no partial file is ever left)',
  usage: 'r4ec data fetch ml-1m [--out DIR] [--timeout-s 30] [--url URL [--sha256 HEX]]',
  allowPositionals: true,
  options: {
    out: { type: 'string', description: 'directory (default $R4EC_STATE_DIR/data/<name>)' },
    'timeout-s': { type: 'string', description: 'give up after this many seconds without any data from the server (default 30)' },
    url: { type: 'string', description: 'download from this address instead (a mirror); the checksum is verified all the same' },
    sha256: { type: 'string', description: "the archive's expected sha256 (default: the published archive's), for a mirror of another build" },
  },
  details: 'Amazon-Books 2018 needs a form on its home page: download Books_5.json.gz and meta_Books.json.gz by hand.',
  async run({ values, positionals }) {
    const name = positionals[0];
    const known = name ? SOURCES[name] : undefined;
    if (!known) throw new R4ecError(`unknown data set "${name ?? ''}"`, 'bad_arguments', { suggestion: `available: ${Object.keys(SOURCES).join(', ')}`, exitCode: 2 });
    const src = { ...known, url: urlOption(str(values.url)) ?? known.url, sha256: sha256Option(str(values.sha256)) ?? known.sha256 };
    const dir = resolve(str(values.out) ?? join(stateDirFrom(process.env), 'data', name!));
    const final = join(dir, src.file);
    if (existsSync(final)) {
      process.stderr.write(`${final} already present\n`);
      return 0;
    }
    mkdirSync(dir, { recursive: true });
    const tmp = `${final}.partial-${process.pid}`;
    const timeoutS = positiveInt(str(values['timeout-s']), 'timeout-s', 30);
    // An idle timeout, not a deadline: a slow but steady download finishes; a silent server does not hold us.
    const ctrl = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const idle = () => {
      clearTimeout(timer);
      timer = setTimeout(() => ctrl.abort(new Error(`no data from the server for ${timeoutS} s`)), timeoutS * 1000);
    };
    try {
      idle();
      const res = await fetch(src.url, { signal: ctrl.signal });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      const hash = createHash('sha256');
      const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
      body.on('data', (c: Buffer) => {
        idle();
        hash.update(c);
      });
      await pipeline(body, createWriteStream(tmp));
      const got = hash.digest('hex');
      if (got !== src.sha256) throw new Error(`checksum mismatch: expected sha256 ${src.sha256}, got ${got}`);
      renameSync(tmp, final);
    } catch (err) {
      rmSync(tmp, { force: true });
      const e = (ctrl.signal.aborted ? ctrl.signal.reason : err) as Error & { cause?: { code?: string } };
      throw new R4ecError(`cannot fetch ${name} from ${src.url}: ${e.cause?.code ?? e.message}`, 'fetch_failed', {
        suggestion: `download it by hand where the network allows and unzip it into a folder; point dataset.path at it`,
      });
    } finally {
      clearTimeout(timer);
    }
    process.stderr.write(`fetched ${final} (sha256 verified); unzip it and set dataset.path to the folder\n`);
    return 0;
  },
};

function urlOption(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (!URL.canParse(v) || !/^https?:$/.test(new URL(v).protocol)) throw new R4ecError(`--url: expected an http(s) address, got "${v}"`, 'bad_arguments', { exitCode: 2 });
  return v;
}

function sha256Option(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-9a-f]{64}$/i.test(v)) throw new R4ecError(`--sha256: expected 64 hex digits, got "${v}"`, 'bad_arguments', { exitCode: 2 });
  return v.toLowerCase();
}
