// A stage output is a set of objects under one key prefix, complete only once its manifest exists.
// The manifest is written last (atomically), so a crash mid-stage leaves no complete output under
// the final key, and "does the stage's output exist" is one `exists` call on any backend.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { z } from 'zod';
import { canonicalJson, hashJson, sha256 } from '../util/hash';
import { ArtifactStore } from './types';

export const MANIFEST = '_manifest.json';

export const ManifestSchema = z.object({
  key: z.string(),
  stage: z.string(),
  createdAt: z.string(),
  files: z.record(z.string(), z.object({ sha256: z.string(), bytes: z.number().int().nonnegative() })),
  meta: z.record(z.string(), z.unknown()).default({}),
});
export type Manifest = z.infer<typeof ManifestSchema>;

export interface StageKeyInput {
  stage: string;
  /** Bumped when the stage's code changes what it produces. */
  codeVersion: string;
  /** The config slice the stage reads (only that slice: other changes must not invalidate it). */
  config: unknown;
  /** Content hashes of the input artifacts. */
  inputs: string[];
}

/** key = hash of (stage, stage code version, config slice, input artifacts' content hashes): docs/DESIGN.md, "Durability". */
export function stageKey(input: StageKeyInput): string {
  return `${input.stage}/${hashJson(input).slice(0, 24)}`;
}

export class StageOutput {
  private readonly files: Manifest['files'] = {};
  constructor(
    readonly store: ArtifactStore,
    readonly key: string,
  ) {}

  objectKey(name: string): string {
    return `${this.key}/${name}`;
  }

  async isComplete(): Promise<boolean> {
    return this.store.exists(this.objectKey(MANIFEST));
  }

  async manifest(): Promise<Manifest> {
    return ManifestSchema.parse(JSON.parse((await this.store.get(this.objectKey(MANIFEST))).toString('utf8')));
  }

  /** Content hash of a complete output: the hash of its file list with their hashes. */
  async contentHash(): Promise<string> {
    return hashJson((await this.manifest()).files);
  }

  async put(name: string, data: Uint8Array | string): Promise<void> {
    await this.store.put(this.objectKey(name), data);
    this.files[name] = { sha256: sha256(data), bytes: typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength };
  }

  async putJson(name: string, value: unknown): Promise<void> {
    await this.put(name, JSON.stringify(value, null, 1));
  }

  async putFile(name: string, path: string): Promise<void> {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of createReadStream(path)) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    await this.store.putFile(this.objectKey(name), path);
    this.files[name] = { sha256: hash.digest('hex'), bytes };
  }

  /** Uploads every file under a local directory (e.g. what a trainer process wrote), keeping relative paths. */
  async putDir(dir: string): Promise<void> {
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile()) await this.putFile(relative(dir, p).split(sep).join('/'), p);
      }
    };
    await walk(dir);
  }

  /** Writes the manifest: from now on the output exists. Returns the content hash. */
  async commit(stage: string, meta: Record<string, unknown> = {}): Promise<string> {
    const manifest: Manifest = { key: this.key, stage, createdAt: new Date().toISOString(), files: this.files, meta };
    await this.store.put(this.objectKey(MANIFEST), canonicalJson(manifest));
    return hashJson(this.files);
  }

  async getJson<T>(name: string, schema?: z.ZodType<T>): Promise<T> {
    const raw: unknown = JSON.parse((await this.store.get(this.objectKey(name))).toString('utf8'));
    return schema ? schema.parse(raw) : (raw as T);
  }
}
