import { copyFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildReport } from '../../core/report/build';
import { renderHtml } from '../../core/report/html';
import { R4ecError } from '../../core/errors';
import { openStore } from '../../core/store';
import { stateDirFrom } from '../../runtime/paths';
import { reportInput } from '../../workflows/report-input';
import type { RunSummary } from '../../workflows/run-summary';
import { str, type Command } from '../args';
import { clientFor } from '../client';
import { writeFileSync } from 'node:fs';

export async function runSummaryOf(configPath: string | undefined, runId: string): Promise<{ summary: RunSummary; config: Awaited<ReturnType<typeof clientFor>>['loaded']['config'] }> {
  const { client, loaded, close } = await clientFor(configPath);
  try {
    const handle = client.workflow.getHandle(runId);
    const desc = await handle.describe().catch(() => {
      throw new R4ecError(`no run "${runId}"`, 'run_not_found', { suggestion: 'see `r4ec status --run ID` or the Web UI' });
    });
    const summary = (desc.status.name === 'COMPLETED' ? await handle.result() : await handle.query('summary')) as RunSummary;
    return { summary, config: loaded.config };
  } finally {
    await close();
  }
}

export const reportCommand: Command = {
  name: 'report',
  summary: "write a run's HTML + JSON report (Table 2, segments, outcomes, LLM cost, timings)",
  usage: 'r4ec report --run ID [--out DIR] [--config FILE]',
  options: {
    run: { type: 'string', description: 'run id' },
    out: { type: 'string', description: 'directory for report.html and report.json (default ./r4ec-report-<run id>)' },
    config: { type: 'string', description: 'config file (connection, store)' },
  },
  async run({ values }) {
    const runId = str(values.run);
    if (!runId) throw new R4ecError('--run ID is required', 'bad_arguments', { exitCode: 2 });
    const { summary, config } = await runSummaryOf(str(values.config), runId);
    const store = openStore(config.store, stateDirFrom(process.env, config.stateDir));
    const dir = resolve(str(values.out) ?? `r4ec-report-${runId}`);
    mkdirSync(dir, { recursive: true });
    const existing = summary.artifacts.report?.key;
    if (existing) {
      copyFileSync(await store.localPath(`${existing}/report.html`), join(dir, 'report.html'));
      copyFileSync(await store.localPath(`${existing}/report.json`), join(dir, 'report.json'));
    } else {
      // The run stopped before its report stage (e.g. --until train): build it from its summary.
      const data = await buildReport(store, reportInput(config, summary));
      writeFileSync(join(dir, 'report.json'), JSON.stringify(data, null, 1));
      writeFileSync(join(dir, 'report.html'), renderHtml(data));
    }
    process.stdout.write(`${join(dir, 'report.html')}\n`);
    return 0;
  },
};
