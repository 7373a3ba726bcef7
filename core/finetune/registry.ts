// The adapter registry: one write-once store entry per job key, `adapters/<jobKey>/` holding the
// adapter files (local backend) and `entry.json`, committed by its manifest. Registering twice is a
// no-op, so a retried activity can never register a second adapter for the same job.
import { z } from 'zod';
import { MANIFEST, StageOutput, type ArtifactStore } from '../store';
import { LORA_JOB_NAMES } from '../rules/jobs';

export const ADAPTERS_PREFIX = 'adapters';
export const ENTRY_FILE = 'entry.json';

export const AdapterEntrySchema = z
  .object({
    jobKey: z.string().min(1),
    job: z.enum(LORA_JOB_NAMES),
    domain: z.enum(['user', 'item']),
    role: z.enum(['actor', 'reflection']),
    backend: z.enum(['local', 'openai']),
    /** Local base model directory, or the provider's model name. */
    baseModel: z.string().min(1),
    /** The model name to request: the LoRA adapter's served name, or the provider's fine-tuned model. */
    servedName: z.string().min(1),
    /** Store prefix with adapter_config.json + weights (local backend); null for a provider model. */
    adapterKey: z.string().min(1).nullable(),
    dataHash: z.string().min(1),
    records: z.number().int().nonnegative(),
    hyperParameters: z.record(z.string(), z.unknown()),
    metrics: z.record(z.string(), z.unknown()),
    /** `local:<jobKey>` or the provider's job id. */
    jobId: z.string().min(1),
    createdAt: z.string(),
  })
  .strict();
export type AdapterEntry = z.infer<typeof AdapterEntrySchema>;

export function adapterOutputKey(jobKey: string): string {
  return `${ADAPTERS_PREFIX}/${jobKey}`;
}

export async function getAdapter(store: ArtifactStore, jobKey: string): Promise<AdapterEntry | undefined> {
  const out = new StageOutput(store, adapterOutputKey(jobKey));
  if (!(await out.isComplete())) return undefined;
  return out.getJson(ENTRY_FILE, AdapterEntrySchema);
}

/**
 * Registers a finished job: uploads `adapterDir` (when given) and the entry, then commits. Returns the
 * entry that is registered, which is the earlier one when the job was registered before.
 */
export async function registerAdapter(
  store: ArtifactStore,
  entry: Omit<AdapterEntry, 'adapterKey'>,
  adapterDir?: string,
): Promise<{ entry: AdapterEntry; registered: boolean }> {
  const existing = await getAdapter(store, entry.jobKey);
  if (existing) return { entry: existing, registered: false };
  const key = adapterOutputKey(entry.jobKey);
  const out = new StageOutput(store, key);
  if (adapterDir) await out.putDir(adapterDir);
  const full = AdapterEntrySchema.parse({ ...entry, adapterKey: adapterDir ? key : null });
  await out.putJson(ENTRY_FILE, full);
  await out.commit('finetune', { jobKey: full.jobKey, job: full.job, servedName: full.servedName });
  return { entry: full, registered: true };
}

export async function listAdapters(store: ArtifactStore): Promise<AdapterEntry[]> {
  const manifests = (await store.list(`${ADAPTERS_PREFIX}/`)).filter((k) => k.endsWith(`/${MANIFEST}`));
  const out: AdapterEntry[] = [];
  for (const m of manifests) {
    const jobKey = m.slice(ADAPTERS_PREFIX.length + 1, -(MANIFEST.length + 1));
    if (jobKey.includes('/')) continue;
    const e = await getAdapter(store, jobKey);
    if (e) out.push(e);
  }
  return out;
}

/** A local directory with the adapter's files (what vLLM's load_lora_adapter is given). */
export async function adapterLocalDir(store: ArtifactStore, entry: AdapterEntry): Promise<string> {
  if (!entry.adapterKey) throw new Error(`adapter ${entry.servedName} is a provider model: it has no files`);
  // The whole directory: a remote store's localPath is a per-file cache copy with no siblings.
  return store.localDir(entry.adapterKey);
}
