// The `openai` backend: the provider's fine-tuning API through the `openai` package. Idempotent like
// the local backend: the job key rides along as job metadata (and in the suffix), and before creating
// anything we look for a job with that key, so a retried or rerun activity follows the job that
// exists. A local note (`openai-job.json` in the job directory) records the ids as soon as they exist.
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import type { FineTuningJob, FineTuningJobEvent } from 'openai/resources/fine-tuning/jobs/jobs';
import { FinetuneError } from './errors';
import { R4ecError } from '../errors';
import { sleep } from '../python-job/sleep';

export const JOB_KEY_METADATA = 'r4ec_job_key';
const NOTE = 'openai-job.json';

export interface OpenAiJobOptions {
  client: OpenAI;
  jobKey: string;
  /** Local JSONL file to upload. */
  datasetPath: string;
  baseModel: string;
  hyper: { epochs: number; batchSize: number; learningRateMultiplier?: number | undefined; seed: number };
  /** For the local note (ids survive a worker crash even before the provider lists the job). */
  jobDir: string;
  pollMs: number;
  signal?: AbortSignal;
  /** Resume hint from the last heartbeat. */
  knownJobId?: string | undefined;
  onEvent?: (e: FineTuningJobEvent, job: FineTuningJob) => void;
  onPoll?: (job: FineTuningJob) => void;
}

export interface OpenAiJobResult {
  job: FineTuningJob;
  fineTunedModel: string;
  /** True when an existing job was found instead of created. */
  attached: boolean;
  events: number;
}

/** Never a failure: the activity turns it into a cancellation once the provider's job is cancelled. */
export class OpenAiJobCancelled extends R4ecError {
  constructor(readonly jobId: string) {
    super(`fine-tuning job ${jobId} cancelled on request`, 'JobCancelled');
    this.name = 'OpenAiJobCancelled';
  }
}

/** The suffix OpenAI puts into the fine-tuned model name (max 64 chars). */
export function jobSuffix(jobKey: string): string {
  return `r4ec-${jobKey.slice(0, 16)}`;
}

function providerError(what: string, err: unknown): FinetuneError {
  if (err instanceof FinetuneError) return err;
  const status = err instanceof OpenAI.APIError ? err.status : undefined;
  // 4xx other than 408/409/429 will not change on retry (bad key, bad model, bad file).
  const retryable = status === undefined || status >= 500 || status === 408 || status === 409 || status === 429;
  return new FinetuneError('ProviderError', `${what}: ${status ? `HTTP ${status}: ` : ''}${(err as Error).message}`, retryable);
}

function belongsTo(job: FineTuningJob, jobKey: string): boolean {
  if (job.metadata?.[JOB_KEY_METADATA] === jobKey) return true;
  return typeof job.fine_tuned_model === 'string' && job.fine_tuned_model.includes(`:${jobSuffix(jobKey)}:`);
}

/** The job to follow for this key: a live or succeeded one; failed/cancelled ones are history. */
async function findJob(client: OpenAI, jobKey: string, knownId: string | undefined): Promise<FineTuningJob | undefined> {
  const usable = (j: FineTuningJob) => j.status !== 'cancelled';
  if (knownId) {
    try {
      const j = await client.fineTuning.jobs.retrieve(knownId);
      if (belongsTo(j, jobKey) && usable(j)) return j;
    } catch (e) {
      if (!(e instanceof OpenAI.NotFoundError)) throw e;
    }
  }
  // Newest first; servers that ignore the metadata filter are covered by belongsTo().
  for await (const j of client.fineTuning.jobs.list({ metadata: { [JOB_KEY_METADATA]: jobKey }, limit: 100 })) {
    if (belongsTo(j, jobKey) && usable(j)) return j;
  }
  return undefined;
}

async function uploadOnce(client: OpenAI, jobKey: string, datasetPath: string): Promise<string> {
  const filename = `r4ec-${jobKey}.jsonl`;
  for await (const f of client.files.list({ purpose: 'fine-tune' })) {
    if (f.filename === filename && f.status !== 'error') return f.id;
  }
  const file = await client.files.create({ file: await toFile(createReadStream(datasetPath), filename), purpose: 'fine-tune' });
  return file.id;
}

async function readNote(jobDir: string): Promise<{ jobId?: string } | undefined> {
  try {
    return JSON.parse(await readFile(join(jobDir, NOTE), 'utf8')) as { jobId?: string };
  } catch {
    return undefined;
  }
}

async function writeNote(jobDir: string, note: Record<string, unknown>): Promise<void> {
  await mkdir(jobDir, { recursive: true });
  const tmp = join(jobDir, `${NOTE}.${process.pid}.tmp`);
  await writeFile(tmp, JSON.stringify(note));
  await rename(tmp, join(jobDir, NOTE));
}

export async function runOpenAiJob(opts: OpenAiJobOptions): Promise<OpenAiJobResult> {
  const { client, jobKey } = opts;
  let job: FineTuningJob | undefined;
  let attached = true;
  try {
    job = await findJob(client, jobKey, opts.knownJobId ?? (await readNote(opts.jobDir))?.jobId);
    if (!job) {
      if (opts.signal?.aborted) throw new OpenAiJobCancelled('(not created)');
      const fileId = await uploadOnce(client, jobKey, opts.datasetPath);
      job = await client.fineTuning.jobs.create({
        model: opts.baseModel,
        training_file: fileId,
        suffix: jobSuffix(jobKey),
        seed: opts.hyper.seed,
        metadata: { [JOB_KEY_METADATA]: jobKey },
        method: {
          type: 'supervised',
          supervised: {
            hyperparameters: {
              n_epochs: opts.hyper.epochs,
              batch_size: opts.hyper.batchSize,
              learning_rate_multiplier: opts.hyper.learningRateMultiplier ?? 'auto',
            },
          },
        },
      });
      attached = false;
    }
  } catch (e) {
    if (e instanceof OpenAiJobCancelled) throw e;
    throw providerError(`fine-tuning job for key ${jobKey}`, e);
  }
  await writeNote(opts.jobDir, { jobId: job.id, jobKey, model: opts.baseModel });

  let lastEventId: string | undefined;
  let events = 0;
  const seen = new Set<string>();
  for (;;) {
    try {
      job = await client.fineTuning.jobs.retrieve(job.id);
      // Events come newest first; collect the new ones and report them oldest first.
      const fresh: FineTuningJobEvent[] = [];
      for await (const e of client.fineTuning.jobs.listEvents(job.id, { limit: 100 })) {
        if (e.id === lastEventId || seen.has(e.id)) break;
        fresh.push(e);
      }
      for (const e of fresh.reverse()) {
        seen.add(e.id);
        lastEventId = e.id;
        events += 1;
        opts.onEvent?.(e, job);
      }
    } catch (e) {
      throw providerError(`polling fine-tuning job ${job.id}`, e);
    }
    if (job.status === 'succeeded') {
      if (!job.fine_tuned_model) throw new FinetuneError('ProviderError', `job ${job.id} succeeded without a fine_tuned_model`, true);
      return { job, fineTunedModel: job.fine_tuned_model, attached, events };
    }
    if (job.status === 'failed') {
      throw new FinetuneError('ProviderJobFailed', `fine-tuning job ${job.id} failed: ${job.error?.message ?? 'no reason given'}`, false);
    }
    if (job.status === 'cancelled') {
      throw new FinetuneError('ProviderJobCancelled', `fine-tuning job ${job.id} was cancelled on the provider's side`, false);
    }
    if (opts.signal?.aborted) {
      try {
        await client.fineTuning.jobs.cancel(job.id);
      } catch (e) {
        throw providerError(`cancelling fine-tuning job ${job.id}`, e);
      }
      throw new OpenAiJobCancelled(job.id);
    }
    opts.onPoll?.(job);
    await sleep(opts.pollMs, opts.signal);
  }
}
