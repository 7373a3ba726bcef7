// The quick start as a new user runs it, timed (prints figures; not a test): `r4ec run` on a config
// (default examples/quickstart.yaml) in a fresh state dir, as one whole process, then the run's
// workflow histories read back from its SQLite file to split the time.
//
//   npx tsx bench/quickstart.ts [--config examples/quickstart.yaml] [--state-dir DIR] [--json]
//
// Figures:
// - wall time of the whole process, time to the Web UI link (dev server start, workflow bundle),
//   and each stage's seconds from the run summary;
// - the share of the pipeline's time spent in training (LoRA and CTR trainers), in encoding, in LLM
//   calls (askTeacher / callLlm: simulator + cache + records), in other activities (ingest, plans,
//   assembly, report), and in none of them: orchestration (workflow tasks, child starts, scheduling,
//   local activities). Each instant counts once, for the first that applies in that order (the union
//   of activity intervals from ActivityTaskStarted to its close event);
// - CPU seconds by process of the run's tree (sampled from /proc every second): the r4ec process
//   (workers, workflows, the simulator), the Temporal dev server, the Python trainers.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { startDevServer } from '../runtime/dev-server';
import { freePort, runEnv, runPipeline, stageSeconds } from './pipeline-run';
import { processTable } from './proc';

type Category = 'training' | 'encoding' | 'llm' | 'other activities';
const ORDER: Category[] = ['training', 'encoding', 'llm', 'other activities'];
const TRAINING = new Set(['submitLoraJob', 'trainBackbone']);
const ENCODING = new Set(['planEncoding', 'encodeShards', 'assembleVectors']);

function category(activityType: string, taskQueue: string): Category {
  if (TRAINING.has(activityType)) return 'training';
  if (ENCODING.has(activityType)) return 'encoding';
  if (taskQueue.includes('llm')) return 'llm';
  return 'other activities';
}

/** Cumulative CPU seconds of every process in the tree under `root`, by pid (with a label). */
function sampleTree(root: number, seen: Map<number, { label: string; cpu: number }>): void {
  const table = processTable();
  const inTree = (pid: number): boolean => {
    for (let p = pid, i = 0; p > 1 && i < 64; p = table.get(p)?.ppid ?? 0, i++) if (p === root) return true;
    return false;
  };
  for (const [pid, { cpuSeconds: c }] of table) {
    if (!inTree(pid)) continue;
    let label = seen.get(pid)?.label;
    if (!label) {
      let cmd = '';
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      } catch {
        continue;
      }
      label = /temporal.*server/.test(cmd) ? 'temporal dev server' : /python/.test(cmd) ? 'python trainers' : /node|r4ec/.test(cmd) ? 'r4ec (workers, workflows, simulator)' : 'other';
    }
    seen.set(pid, { label, cpu: Math.max(c, seen.get(pid)?.cpu ?? 0) });
  }
}

const ms = (t: temporal.api.history.v1.IHistoryEvent['eventTime']) => Number(t?.seconds ?? 0) * 1000 + Math.round((t?.nanos ?? 0) / 1e6);

/** Total length of the union of [start, end) intervals. */
function unionLength(intervals: Array<[number, number]>): number {
  const s = [...intervals].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let cur: [number, number] | undefined;
  for (const [a, b] of s) {
    if (!cur || a > cur[1]) {
      if (cur) total += cur[1] - cur[0];
      cur = [a, b];
    } else cur[1] = Math.max(cur[1], b);
  }
  return total + (cur ? cur[1] - cur[0] : 0);
}

/** Subtracts from `xs` every instant covered by `taken` (both unions). */
function minus(xs: Array<[number, number]>, taken: Array<[number, number]>): Array<[number, number]> {
  let out = xs;
  for (const [a, b] of taken) {
    const next: Array<[number, number]> = [];
    for (const [x, y] of out) {
      if (y <= a || x >= b) next.push([x, y]);
      else {
        if (x < a) next.push([x, a]);
        if (y > b) next.push([b, y]);
      }
    }
    out = next;
  }
  return out;
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      config: { type: 'string', default: 'examples/quickstart.yaml' },
      'state-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const root = resolve(__dirname, '..');
  const stateDir = resolve(a['state-dir'] ?? mkdtempSync(join(tmpdir(), 'r4ec-quickstart-')));
  const env = await runEnv(stateDir);

  // 1. The run, as one whole process.
  let uiAt: number | undefined;
  const procs = new Map<number, { label: string; cpu: number }>();
  const run = await runPipeline({
    cli: join(root, 'bin/r4ec.js'),
    config: resolve(a.config!),
    cwd: root,
    env,
    onStderr: (s) => {
      if (uiAt === undefined && s.includes('Temporal Web UI:')) uiAt = performance.now();
      process.stderr.write(s);
    },
    onSpawn: (child) => {
      const timer = setInterval(() => sampleTree(child.pid!, procs), 1000);
      return () => clearInterval(timer);
    },
  });
  const { summary, startedAt: t0 } = run;
  const wallS = run.wallSeconds;

  // 2. The histories, from the run's own SQLite file.
  const server = await startDevServer({ stateDir, port: await freePort(), uiPort: await freePort(), namespace: 'default' });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const intervals: Record<Category, Array<[number, number]>> = { training: [], encoding: [], llm: [], 'other activities': [] };
  let pipelineStart = 0;
  let pipelineEnd = 0;
  let workflows = 0;
  let events = 0;
  try {
    const ids: string[] = [summary.runId];
    for await (const w of client.workflow.list({ query: `R4ecRunId="${summary.runId}"` })) if (w.workflowId !== summary.runId) ids.push(w.workflowId);
    for (const id of new Set(ids)) {
      const h = await client.workflow.getHandle(id).fetchHistory();
      const ev = h.events ?? [];
      workflows++;
      events += ev.length;
      if (id === summary.runId) {
        pipelineStart = ms(ev[0]!.eventTime);
        pipelineEnd = ms(ev[ev.length - 1]!.eventTime);
      }
      const scheduled = new Map<number, { type: string; queue: string }>();
      const started = new Map<number, number>();
      for (const e of ev) {
        const id = Number(e.eventId);
        const sch = e.activityTaskScheduledEventAttributes;
        if (sch) scheduled.set(id, { type: sch.activityType?.name ?? '?', queue: sch.taskQueue?.name ?? '' });
        const st = e.activityTaskStartedEventAttributes;
        if (st) started.set(Number(st.scheduledEventId), ms(e.eventTime));
        const close = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes ?? e.activityTaskCanceledEventAttributes;
        if (close) {
          const sid = Number(close.scheduledEventId);
          const s = scheduled.get(sid);
          const from = started.get(sid);
          if (s && from !== undefined) intervals[category(s.type, s.queue)].push([from, ms(e.eventTime)]);
        }
      }
    }
  } finally {
    await connection.close();
    await server.stop();
  }

  // Exclusive attribution in ORDER; what no activity covers is orchestration.
  const pipelineMs = pipelineEnd - pipelineStart;
  let taken: Array<[number, number]> = [];
  const share: Record<string, number> = {};
  for (const c of ORDER) {
    const own = minus(intervals[c], taken);
    share[c] = unionLength(own) / 1000;
    taken = [...taken, ...own];
  }
  share.orchestration = pipelineMs / 1000 - Object.values(share).reduce((x, y) => x + y, 0);

  const out = {
    config: a.config,
    stateDir,
    runId: summary.runId,
    wallSeconds: +wallS.toFixed(1),
    secondsToWebUiLink: uiAt === undefined ? null : +((uiAt - t0) / 1000).toFixed(1),
    pipelineSeconds: +(pipelineMs / 1000).toFixed(1),
    stages: stageSeconds(summary),
    shareOfPipeline: Object.fromEntries(Object.entries(share).map(([k, v]) => [k, { seconds: +v.toFixed(1), percent: +((100 * v * 1000) / pipelineMs).toFixed(1) }])),
    cpuSeconds: [...procs.values()].reduce<Record<string, number>>((acc, p) => ({ ...acc, [p.label]: +((acc[p.label] ?? 0) + p.cpu).toFixed(1) }), {}),
    workflows,
    historyEvents: events,
    llmCalls: summary.llm.calls,
  };
  if (a.json) {
    console.log(JSON.stringify(out));
    return;
  }
  console.log(`\nquick start (${a.config}), run ${out.runId}, state ${stateDir}`);
  console.log(`  whole process   ${out.wallSeconds} s (${(out.wallSeconds / 60).toFixed(1)} min); Web UI link after ${out.secondsToWebUiLink} s`);
  console.log(`  pipeline        ${out.pipelineSeconds} s over ${workflows} workflows, ${events} history events, ${out.llmCalls} LLM requests`);
  for (const [k, v] of Object.entries(out.stages)) console.log(`    ${k.padEnd(12)} ${String(v).padStart(7)} s`);
  console.log('  share of the pipeline:');
  for (const [k, v] of Object.entries(out.shareOfPipeline)) console.log(`    ${k.padEnd(17)} ${String(v.seconds).padStart(7)} s  ${String(v.percent).padStart(5)} %`);
  console.log('  CPU seconds by process (the run, sampled every second):');
  for (const [k, v] of Object.entries(out.cpuSeconds)) console.log(`    ${k.padEnd(38)} ${String(v).padStart(7)} s`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
