// Progress on stderr from the pipeline's `progress` query (and each running stage's own `progress`
// query when it has one): a bar per stage on a terminal, a line per change otherwise.
import type { Client } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { STAGES, type Stage } from '../config/names';
import { isPerDomain, workflowIds } from '../core/rules';
import type { StageProgress } from '../workflows/run-summary';

interface ChildProgress {
  done: number;
  total: number;
  running?: string[];
}

export class ProgressView {
  private lastLines: string[] = [];
  private drawn = 0;
  private lastPrinted = 0;
  /** Last progress each stage workflow answered: what a closed one shows (see childProgress). */
  private readonly lastProgress = new Map<string, ChildProgress>();
  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly tty = Boolean(process.stderr.isTTY),
  ) {}

  /** How often to poll: a terminal redraws every second; logs print every 15 s anyway. */
  get intervalMs(): number {
    return this.tty ? 1000 : 5000;
  }

  async poll(client: Client, runId: string): Promise<void> {
    let p: { stages: Partial<Record<Stage, StageProgress>>; current?: Stage };
    try {
      p = await client.workflow.getHandle(runId).query('progress');
    } catch {
      return; // not started yet, or between tasks
    }
    const lines: string[] = [];
    for (const stage of STAGES) {
      const s = p.stages[stage];
      if (!s) continue;
      let detail = '';
      if (s.status === 'running') {
        const c = await this.childProgress(client, runId, stage);
        if (c) detail = ` ${bar(c.done, c.total)} ${c.done}/${c.total}${await jobDetail(client, runId, stage, c.running)}`;
      }
      const mark = { pending: '·', running: '▸', completed: '✓', skipped: '↷', failed: '✗' }[s.status];
      const secs = s.status === 'pending' ? '' : ` ${(s.status === 'running' && s.startedAt ? (Date.now() - s.startedAt) / 1000 : s.seconds).toFixed(0)}s`;
      lines.push(`${mark} ${stage.padEnd(10)}${s.status === 'skipped' ? 'skipped (output exists)' : s.status}${s.selected ? '' : ' (lookup)'}${secs}${detail}`);
    }
    this.render(lines);
  }

  /**
   * The stage workflows' own `progress` (construct and refine: one per domain). A closed workflow is
   * described, not queried: a query on a closed workflow makes a worker replay its whole history
   * (seconds for thousands of children) on the same thread that runs the live ones.
   */
  private async childProgress(client: Client, runId: string, stage: Stage): Promise<ChildProgress | undefined> {
    const ids = isPerDomain(stage) ? [workflowIds.stage(runId, stage, 'user'), workflowIds.stage(runId, stage, 'item')] : [workflowIds.stage(runId, stage)];
    let done = 0;
    let total = 0;
    let any = false;
    const running: string[] = [];
    for (const id of ids) {
      let c = this.lastProgress.get(id);
      let open = false;
      try {
        // Described every poll: a rerun of the run starts a new execution under the same id.
        const status = (await client.workflow.getHandle(id).describe()).status.name;
        if (status === 'RUNNING') {
          open = true;
          const q = await client.workflow.getHandle(id).query<ChildProgress>('progress');
          if (q && typeof q.done === 'number' && typeof q.total === 'number') c = q;
        } else if (c && status === 'COMPLETED') c = { done: c.total, total: c.total };
      } catch {
        /* not started yet, or between tasks */
      }
      if (c) this.lastProgress.set(id, c);
      if (!c) continue;
      done += c.done;
      total += c.total;
      if (open) running.push(...(c.running ?? []));
      any = true;
    }
    return any ? { done, total, running } : undefined;
  }

  private render(lines: string[]): void {
    if (this.tty) {
      if (this.drawn) this.out.write(`\x1b[${this.drawn}A`);
      for (const l of lines) this.out.write(`\x1b[2K${l}\n`);
      this.drawn = lines.length;
      return;
    }
    // Logs and CI: one line when a stage changes state, and a running stage's line every 15 s.
    const now = Date.now();
    for (const l of lines) {
      const key = l.split(/\s+/).slice(0, 3).join(' ');
      const prev = this.lastLines.find((x) => x.split(/\s+/).slice(0, 3).join(' ') === key);
      const running = l.startsWith('▸');
      if (!prev || (running && now - this.lastPrinted > 15_000)) {
        this.out.write(`[r4ec] ${l}\n`);
        if (running) this.lastPrinted = now;
      }
    }
    this.lastLines = lines;
  }
}

/**
 * finetune and train: where each running job is, from the heartbeat its activity last sent
 * (finetune: `step/totalSteps` of the LoRA trainer; train: `epoch/epochs` of the backbone).
 */
async function jobDetail(client: Client, runId: string, stage: Stage, running: string[] | undefined): Promise<string> {
  if (!running?.length || (stage !== 'finetune' && stage !== 'train')) return '';
  const beats: Record<string, unknown>[] = [];
  const ids = stage === 'finetune' ? running.map((j) => workflowIds.loraJob(runId, j)) : [workflowIds.stage(runId, 'train')];
  for (const id of ids) {
    try {
      const d = await client.workflow.getHandle(id).describe();
      for (const a of d.raw.pendingActivities ?? []) {
        if (!a.heartbeatDetails?.payloads?.length) continue;
        const v = await decodeFromPayloadsAtIndex<unknown>(client.options.loadedDataConverter, 0, a.heartbeatDetails.payloads);
        if (v && typeof v === 'object') beats.push({ ...(v as Record<string, unknown>), ...(stage === 'finetune' ? { job: id.slice(id.lastIndexOf('/') + 1) } : {}) });
      }
    } catch {
      /* closed between the query and now */
    }
  }
  const parts = beats.flatMap((b) => {
    if (typeof b.job !== 'string') return [];
    if (stage === 'finetune' && typeof b.step === 'number') return [`${b.job} step ${b.step}${typeof b.totalSteps === 'number' ? `/${b.totalSteps}` : ''}`];
    if (stage === 'train' && typeof b.epoch === 'number') return [`${b.job} epoch ${b.epoch}${typeof b.epochs === 'number' ? `/${b.epochs}` : ''}`];
    return [`${b.job} starting`];
  });
  return parts.length ? ` · ${parts.join(', ')}` : '';
}

function bar(done: number, total: number, width = 20): string {
  const f = total > 0 ? Math.min(width, Math.round((done / total) * width)) : 0;
  return `[${'#'.repeat(f)}${'-'.repeat(width - f)}]`;
}
