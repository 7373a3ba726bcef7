// The simulator's Files API (`/v1/files`): batch input files are uploaded here and batch output
// and error files are read from here. Kept in memory, and under `dir` when one is given so that a
// restarted simulator still serves the files of its batches.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { z } from 'zod';
import { errorBody } from './chat';

/** OpenAI's limit for a batch input file. */
export const MAX_BATCH_FILE_BYTES = 200 * 1024 * 1024;

export const FILE_PURPOSES = ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'] as const;

const FileObjectSchema = z.object({
  id: z.string(),
  object: z.literal('file'),
  bytes: z.number().int(),
  created_at: z.number().int(),
  filename: z.string(),
  purpose: z.string(),
  status: z.enum(['uploaded', 'processed', 'error']),
  expires_at: z.number().int().nullable(),
  status_details: z.string().nullable(),
});
export type SimFileObject = z.infer<typeof FileObjectSchema>;

export interface Reply {
  status: number;
  /** JSON for objects; raw bytes for file content. */
  body: unknown;
  headers?: Record<string, string>;
}

export const reply = (status: number, body: unknown, headers?: Record<string, string>): Reply => ({ status, body, ...(headers ? { headers } : {}) });
export const invalid = (message: string, param: string | null = null, code: string | null = null): Reply =>
  reply(400, errorBody(message, 'invalid_request_error', code, param));
export const notFound = (message: string): Reply => reply(404, errorBody(message, 'invalid_request_error', null));

/** Atomic JSON/bytes write (temp + rename): a killed simulator leaves the old state or the new. */
export async function writeAtomic(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** Reads a request body of at most `limit` bytes; a larger one is drained (so the 400 can be sent) and reported. */
export function readLimited(req: IncomingMessage, limit: number): Promise<{ data: Buffer; tooLarge: boolean; bytes: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      if (bytes <= limit) chunks.push(c);
    });
    req.on('end', () => resolve({ data: bytes <= limit ? Buffer.concat(chunks) : Buffer.alloc(0), tooLarge: bytes > limit, bytes }));
    req.on('error', reject);
  });
}

export class SimFiles {
  private readonly files = new Map<string, { meta: SimFileObject; data: Buffer | undefined }>();

  constructor(
    private readonly dir: string | undefined,
    readonly maxBytes: number,
  ) {}

  /** Loads the files a previous simulator process persisted (contents are read when asked for). */
  async load(): Promise<void> {
    if (!this.dir) return;
    await mkdir(this.dir, { recursive: true });
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith('.json')) continue;
      const meta = FileObjectSchema.parse(JSON.parse(await readFile(join(this.dir, name), 'utf8')));
      this.files.set(meta.id, { meta, data: undefined });
    }
  }

  get(id: string): SimFileObject | undefined {
    return this.files.get(id)?.meta;
  }

  async content(id: string): Promise<Buffer | undefined> {
    const f = this.files.get(id);
    if (!f) return undefined;
    return f.data ?? readFile(join(this.dir!, `${id}.data`));
  }

  async add(filename: string, purpose: string, data: Buffer): Promise<SimFileObject> {
    const meta: SimFileObject = {
      id: `file-r4ecsim${randomBytes(10).toString('hex')}`,
      object: 'file',
      bytes: data.length,
      created_at: Math.floor(Date.now() / 1000),
      filename,
      purpose,
      status: 'processed',
      expires_at: null,
      status_details: null,
    };
    if (this.dir) {
      // Content first, then the entry that makes it visible after a restart.
      await writeAtomic(join(this.dir, `${meta.id}.data`), data);
      await writeAtomic(join(this.dir, `${meta.id}.json`), JSON.stringify(meta));
      this.files.set(meta.id, { meta, data: undefined });
    } else {
      this.files.set(meta.id, { meta, data });
    }
    return meta;
  }

  /** POST /v1/files: multipart with `purpose` and `file`, as the openai package sends it. */
  async upload(req: IncomingMessage): Promise<Reply> {
    const contentType = req.headers['content-type'] ?? '';
    // Room for the multipart envelope around a file of the maximum size.
    const body = await readLimited(req, this.maxBytes + 64 * 1024);
    if (body.tooLarge) return invalid(`File is too large: ${body.bytes} bytes; the maximum for a batch input file is ${this.maxBytes} bytes.`, 'file', 'file_too_large');
    if (!contentType.startsWith('multipart/form-data')) return invalid('expected a multipart/form-data upload with the fields `file` and `purpose`', 'file');
    let form: FormData;
    try {
      form = await new Response(body.data, { headers: { 'content-type': contentType } }).formData();
    } catch (e) {
      return invalid(`could not read the multipart body: ${(e as Error).message}`, 'file');
    }
    const purpose = form.get('purpose');
    const file = form.get('file');
    if (typeof purpose !== 'string' || !(FILE_PURPOSES as readonly string[]).includes(purpose)) {
      return invalid(`'${String(purpose)}' is not one of ${FILE_PURPOSES.map((p) => `'${p}'`).join(', ')} - 'purpose'`, 'purpose');
    }
    if (file === null || typeof file === 'string') return invalid("'file' is a required property", 'file');
    const data = Buffer.from(await file.arrayBuffer());
    if (data.length > this.maxBytes) return invalid(`File is too large: ${data.length} bytes; the maximum for a batch input file is ${this.maxBytes} bytes.`, 'file', 'file_too_large');
    if (purpose === 'batch' && !file.name.endsWith('.jsonl')) return invalid('Invalid file format for Batch API. Must be .jsonl', 'file');
    return reply(200, await this.add(file.name, purpose, data));
  }

  async route(req: IncomingMessage, method: string, parts: string[]): Promise<Reply> {
    // parts: ['v1', 'files', id?, 'content'?]
    if (parts.length === 2 && method === 'POST') return this.upload(req);
    const id = parts[2];
    if (id !== undefined && method === 'GET') {
      const meta = this.get(id);
      if (!meta) return notFound(`No such File object: ${id}`);
      if (parts.length === 3) return reply(200, meta);
      if (parts.length === 4 && parts[3] === 'content') return reply(200, await this.content(id), { 'content-type': 'application/octet-stream' });
    }
    return notFound(`no route ${method} /${parts.join('/')} on the r4ec simulator`);
  }
}
