// A local fake of the OpenAI Files + fine-tuning endpoints the `openai` backend uses (acceptable only
// because the real one is a paid remote service). Jobs advance one state per retrieve:
// validating_files → queued → running → succeeded (or failed when the file's content says so).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeJob {
  id: string;
  object: 'fine_tuning.job';
  created_at: number;
  model: string;
  training_file: string;
  status: 'validating_files' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  fine_tuned_model: string | null;
  finished_at: number | null;
  error: { code: string; message: string; param: string | null } | null;
  hyperparameters: Record<string, unknown>;
  method?: unknown;
  metadata: Record<string, string> | null;
  organization_id: string;
  result_files: string[];
  seed: number;
  trained_tokens: number | null;
  validation_file: string | null;
  suffix: string | null;
  events: Array<{ id: string; object: 'fine_tuning.job.event'; created_at: number; level: 'info' | 'error'; message: string; type: 'message' }>;
}

export interface FakeOpenAi {
  url: string;
  files: Array<{ id: string; filename: string; purpose: string; bytes: number; content: string }>;
  jobs: FakeJob[];
  /** POST /fine_tuning/jobs calls that created a job. */
  creations: number;
  uploads: number;
  requests: string[];
  close(): Promise<void>;
}

const STEPS: FakeJob['status'][] = ['validating_files', 'queued', 'running', 'succeeded'];

export async function startFakeOpenAi(opts: { apiKey?: string } = {}): Promise<FakeOpenAi> {
  const state: FakeOpenAi = { url: '', files: [], jobs: [], creations: 0, uploads: 0, requests: [], close: async () => {} };
  let seq = 0;
  const now = () => Math.floor(Date.now() / 1000);

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const notFound = (res: ServerResponse, what: string) => send(res, 404, { error: { message: `No such ${what}`, type: 'invalid_request_error', code: 'not_found', param: null } });
  const event = (job: FakeJob, message: string, level: 'info' | 'error' = 'info') =>
    job.events.push({ id: `ftevent-${++seq}`, object: 'fine_tuning.job.event', created_at: now(), level, message, type: 'message' });

  const advance = (job: FakeJob) => {
    if (job.status === 'succeeded' || job.status === 'failed' || job.status === 'cancelled') return;
    const next = STEPS[STEPS.indexOf(job.status) + 1]!;
    const file = state.files.find((f) => f.id === job.training_file);
    if (next === 'running' && file?.content.includes('FAIL-THIS-JOB')) {
      job.status = 'failed';
      job.error = { code: 'invalid_training_file', message: 'The training file contains a record the provider rejects', param: 'training_file' };
      job.finished_at = now();
      event(job, 'Job failed: invalid training file', 'error');
      return;
    }
    job.status = next;
    if (next === 'running') event(job, 'Fine-tuning job started');
    if (next === 'succeeded') {
      job.fine_tuned_model = `ft:${job.model}:fake-org:${job.suffix ?? 'model'}:${job.id.slice(-8)}`;
      job.trained_tokens = file ? Math.ceil(file.content.length / 4) : 0;
      job.finished_at = now();
      event(job, 'Step 1/1: training loss=0.42');
      event(job, 'The job has successfully completed');
    }
  };

  const readBody = (req: IncomingMessage) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const path = url.pathname.replace(/^\/v1/, '');
      state.requests.push(`${req.method} ${path}`);
      if (opts.apiKey && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
        return send(res, 401, { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key', param: null } });
      }
      const body = req.method === 'POST' ? await readBody(req) : Buffer.alloc(0);

      if (req.method === 'POST' && path === '/files') {
        const form = await new Request('http://fake/files', { method: 'POST', headers: { 'content-type': String(req.headers['content-type']) }, body }).formData();
        const file = form.get('file');
        if (!(file instanceof Blob)) return send(res, 400, { error: { message: 'file is required', type: 'invalid_request_error', code: null, param: 'file' } });
        const content = await file.text();
        const rec = { id: `file-${++seq}`, filename: (file as File).name, purpose: String(form.get('purpose')), bytes: Buffer.byteLength(content), content };
        state.files.push(rec);
        state.uploads += 1;
        return send(res, 200, { id: rec.id, object: 'file', bytes: rec.bytes, created_at: now(), filename: rec.filename, purpose: rec.purpose, status: 'processed' });
      }
      if (req.method === 'GET' && path === '/files') {
        const purpose = url.searchParams.get('purpose');
        const data = state.files
          .filter((f) => !purpose || f.purpose === purpose)
          .map((f) => ({ id: f.id, object: 'file', bytes: f.bytes, created_at: now(), filename: f.filename, purpose: f.purpose, status: 'processed' }));
        return send(res, 200, { object: 'list', data, has_more: false });
      }
      if (req.method === 'POST' && path === '/fine_tuning/jobs') {
        const b = JSON.parse(body.toString('utf8')) as { model: string; training_file: string; suffix?: string; metadata?: Record<string, string>; seed?: number; method?: unknown };
        if (!state.files.some((f) => f.id === b.training_file)) return notFound(res, `file: ${b.training_file}`);
        const job: FakeJob = {
          id: `ftjob-${++seq}`,
          object: 'fine_tuning.job',
          created_at: now(),
          model: b.model,
          training_file: b.training_file,
          status: 'validating_files',
          fine_tuned_model: null,
          finished_at: null,
          error: null,
          hyperparameters: {},
          method: b.method,
          metadata: b.metadata ?? null,
          organization_id: 'org-fake',
          result_files: [],
          seed: b.seed ?? 0,
          trained_tokens: null,
          validation_file: null,
          suffix: b.suffix ?? null,
          events: [],
        };
        event(job, `Created fine-tuning job: ${job.id}`);
        state.jobs.push(job);
        state.creations += 1;
        return send(res, 200, publicJob(job));
      }
      if (req.method === 'GET' && path === '/fine_tuning/jobs') {
        // metadata[k]=v filters, as the API documents.
        const filters = [...url.searchParams.entries()].flatMap(([k, v]) => {
          const m = /^metadata\[(.+)\]$/.exec(k);
          return m ? [[m[1]!, v] as const] : [];
        });
        const data = [...state.jobs].reverse().filter((j) => filters.every(([k, v]) => j.metadata?.[k] === v));
        return send(res, 200, { object: 'list', data: data.map(publicJob), has_more: false });
      }
      const m = /^\/fine_tuning\/jobs\/([^/]+)(\/events|\/cancel)?$/.exec(path);
      if (m) {
        const job = state.jobs.find((j) => j.id === m[1]);
        if (!job) return notFound(res, `job: ${m[1]}`);
        if (req.method === 'GET' && !m[2]) {
          advance(job);
          return send(res, 200, publicJob(job));
        }
        if (req.method === 'GET' && m[2] === '/events') {
          return send(res, 200, { object: 'list', data: [...job.events].reverse(), has_more: false });
        }
        if (req.method === 'POST' && m[2] === '/cancel') {
          if (job.status !== 'succeeded' && job.status !== 'failed') {
            job.status = 'cancelled';
            event(job, 'Job cancelled');
          }
          return send(res, 200, publicJob(job));
        }
      }
      notFound(res, `route ${req.method} ${path}`);
    })().catch((e: unknown) => send(res, 500, { error: { message: String(e), type: 'server_error', code: null, param: null } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  state.close = () => new Promise<void>((r) => server.close(() => r()));
  return state;
}

function publicJob(j: FakeJob) {
  const { events: _e, suffix: _s, ...rest } = j;
  return rest;
}
