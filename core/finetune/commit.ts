// The finetune stage output: `adapters.json` (which registered adapter serves which job's role) and
// the stage summary in the manifest. Idempotent: a committed output is returned as it is.
import { faultPoint } from '../fault';
import { StageOutput, type ArtifactStore } from '../store';
import type { LoraJobName } from '../rules/jobs';
import { FinetuneError } from './errors';
import type { FinetuneSummary } from './plan';
import { getAdapter, type AdapterEntry } from './registry';

/** The stage output's file: which served model each job's role uses. */
export const ADAPTERS_FILE = 'adapters.json';

export interface CommitFinetuneOptions {
  store: ArtifactStore;
  key: string;
  runId: string;
  backend: FinetuneSummary['backend'];
  baseModel: string | null;
  jobs: ReadonlyArray<{ name: LoraJobName; jobKey: string }>;
}

export async function commitFinetune(o: CommitFinetuneOptions): Promise<{ key: string; contentHash: string; summary: FinetuneSummary }> {
  const out = new StageOutput(o.store, o.key);
  if (await out.isComplete()) {
    return { key: o.key, contentHash: await out.contentHash(), summary: (await out.manifest()).meta.summary as FinetuneSummary };
  }
  const summary: FinetuneSummary = { backend: o.backend, baseModel: o.baseModel, adapters: {} };
  const adapters: Record<string, AdapterEntry> = {};
  for (const j of o.jobs) {
    const entry = await getAdapter(o.store, j.jobKey);
    if (!entry) throw new FinetuneError('MissingAdapter', `commitFinetune: job ${j.name} (${j.jobKey}) has no registered adapter`, false);
    adapters[j.name] = entry;
    const m = entry.metrics as Record<string, number | undefined>;
    summary.adapters[j.name] = {
      servedName: entry.servedName,
      jobKey: entry.jobKey,
      records: entry.records,
      ...(m.steps !== undefined ? { steps: m.steps } : {}),
      ...(m.finalLoss !== undefined ? { finalLoss: m.finalLoss } : {}),
      ...(m.trainSeconds !== undefined ? { trainSeconds: m.trainSeconds } : {}),
      ...(m.tokensPerSecond !== undefined ? { tokensPerSecond: m.tokensPerSecond } : {}),
    };
  }
  await out.putJson(ADAPTERS_FILE, { backend: o.backend, baseModel: o.baseModel, adapters });
  const contentHash = await out.commit('finetune', { runId: o.runId, summary });
  faultPoint('finetune.commit.after-commit');
  return { key: o.key, contentHash, summary };
}
