// Progress on stderr from the pipeline's `progress` query (and each running stage's own `progress`
// query when it has one): a bar per stage on a terminal, a line per change otherwise.
import type { Client } from '@temporalio/client';
import { STAGES, type Stage } from '../config/names';
import type { StageProgress } from '../workflows/pipeline';

interface ChildProgress {
  done: number;
  total: number;
}

export class ProgressView {
  private lastLines: string[] = [];
  private drawn = 0;
  private lastPrinted = 0;
  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly tty = Boolean(process.stderr.isTTY),
  ) {}

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
        const c = await childProgress(client, runId, stage);
        if (c) detail = ` ${bar(c.done, c.total)} ${c.done}/${c.total}`;
      }
      const mark = { pending: '·', running: '▸', completed: '✓', skipped: '↷', failed: '✗' }[s.status];
      const secs = s.status === 'pending' ? '' : ` ${(s.status === 'running' && s.startedAt ? (Date.now() - s.startedAt) / 1000 : s.seconds).toFixed(0)}s`;
      lines.push(`${mark} ${stage.padEnd(10)}${s.status === 'skipped' ? 'skipped (output exists)' : s.status}${s.selected ? '' : ' (lookup)'}${secs}${detail}`);
    }
    this.render(lines);
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

async function childProgress(client: Client, runId: string, stage: Stage): Promise<ChildProgress | undefined> {
  const ids = stage === 'construct' || stage === 'refine' ? [`${runId}/${stage}/user`, `${runId}/${stage}/item`] : [`${runId}/${stage}`];
  let done = 0;
  let total = 0;
  let any = false;
  for (const id of ids) {
    try {
      const c = await client.workflow.getHandle(id).query<ChildProgress>('progress');
      if (c && typeof c.done === 'number' && typeof c.total === 'number') {
        done += c.done;
        total += c.total;
        any = true;
      }
    } catch {
      /* no such query or not running */
    }
  }
  return any ? { done, total } : undefined;
}

function bar(done: number, total: number, width = 20): string {
  const f = total > 0 ? Math.min(width, Math.round((done / total) * width)) : 0;
  return `[${'#'.repeat(f)}${'-'.repeat(width - f)}]`;
}
