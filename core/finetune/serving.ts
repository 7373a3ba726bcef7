// Where a serving host finds a LoRA adapter. The finetune stage's adapters live in the artifact store
// (`adapters/<jobKey>/`); vLLM's /v1/load_lora_adapter takes a directory *on the server*, which the
// trainer's local path is not (it was on a gpu worker, perhaps another machine, perhaps deleted).
// Three placements, per role endpoint (`llm.<role>.adapters`):
// - `dir` (+ optional `serverDir`): a shared volume. The llm worker copies the adapter's files from
//   the store into `<dir>/<jobKey>/` (complete or not at all) and tells the server
//   `<serverDir or dir>/<jobKey>`;
// - `serverDir` alone: the serving host keeps its own copy of the store's `adapters/` prefix (e.g.
//   `aws s3 sync s3://bucket/prefix/adapters/ /srv/adapters/`); the server is told `<serverDir>/<jobKey>`;
// - neither: the worker's own local copy (`store.localDir`), right when the server runs on the
//   worker's machine (the simulator, `r4ec serve-model`, a vLLM next to the worker).
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, posix, relative, sep } from 'node:path';
import { StageOutput, type ArtifactStore } from '../store';
import { FinetuneError } from './errors';
import { adapterLocalDir, type AdapterEntry } from './registry';

export interface AdapterPlacement {
  dir?: string | undefined;
  serverDir?: string | undefined;
}

/** Written last into a copied adapter directory: which stored adapter (by content) it holds. */
const SOURCE_FILE = 'r4ec-adapter-source.json';

/** The path to give the serving host's load_lora_adapter for this adapter. */
export async function adapterPathForServer(store: ArtifactStore, entry: AdapterEntry, placement?: AdapterPlacement): Promise<string> {
  if (!entry.adapterKey) throw new FinetuneError('MissingAdapter', `adapter ${entry.servedName} is a provider model: it has no files to load`, false);
  const name = posix.basename(entry.adapterKey);
  if (!placement?.dir && !placement?.serverDir) return adapterLocalDir(store, entry);
  if (!placement.dir) return posix.join(placement.serverDir!, name);
  await copyAdapter(store, entry, join(placement.dir, name));
  return posix.join(placement.serverDir ?? placement.dir, name);
}

/**
 * Copies the adapter's files into `target` unless it holds this very adapter already; a copy is
 * built beside it and renamed into place, so the server never reads a half-copied adapter.
 */
async function copyAdapter(store: ArtifactStore, entry: AdapterEntry, target: string): Promise<void> {
  const contentHash = await new StageOutput(store, entry.adapterKey!).contentHash();
  const source = JSON.stringify({ adapterKey: entry.adapterKey, servedName: entry.servedName, contentHash });
  try {
    if ((await readFile(join(target, SOURCE_FILE), 'utf8')) === source) return;
  } catch {
    // absent or unreadable: (re)build it
  }
  const from = await adapterLocalDir(store, entry);
  await mkdir(dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else {
          const to = join(tmp, relative(from, p).split(sep).join('/'));
          await mkdir(dirname(to), { recursive: true });
          // A copy, not a link: the volume is another filesystem, and the cache may be deleted.
          await copyFile(p, to);
        }
      }
    };
    await walk(from);
    await writeFile(join(tmp, SOURCE_FILE), source);
    await rm(target, { recursive: true, force: true });
    try {
      await rename(tmp, target);
    } catch (err) {
      // Another llm worker published the same adapter first: theirs is identical.
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !(await stat(join(target, SOURCE_FILE)).catch(() => undefined))) throw err;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
