// Billable Temporal Cloud actions of a run, read from its histories (prints figures; not a test).
//
//   npx tsx bench/actions.ts --run ID [--address host:port] [--namespace default]
//       [--metrics http://127.0.0.1:PORT/metrics] [--entities N] [--json]
//
// What counts, per Temporal Cloud's published list of actions:
//   starts        every workflow execution started: client starts, child workflows, continue-as-new
//   activities    every activity attempt (the first and each retry; the started event's attempt)
//   localActs     local activities: all of one workflow task's local activities are one action
//   timers        TimerStarted
//   upserts       UpsertWorkflowSearchAttributes (search attributes given at start are free)
//   signals       WorkflowExecutionSignaled
// Heartbeats and queries leave no event in a history: with --metrics (the server's Prometheus
// endpoint; the dev server: `--metrics-port`), the server's count of RecordActivityTaskHeartbeat and
// QueryWorkflow requests is added (server-wide: run it on a server that served only this run).
// Figures are per stage (R4ecStage, with R4ecDomain) and per entity (the stage's units, from its
// `progress` or --entities), with the history bytes each stage wrote.
import { parseArgs } from 'node:util';
import { Connection, Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

export interface ActionCounts {
  starts: number;
  activities: number;
  localActs: number;
  timers: number;
  upserts: number;
  signals: number;
  heartbeats: number;
  queries: number;
}

export interface StageActions extends ActionCounts {
  executions: number;
  events: number;
  historyBytes: number;
  total: number;
}

const EventType = temporal.api.enums.v1.EventType;

export function zeroActions(): ActionCounts {
  return { starts: 0, activities: 0, localActs: 0, timers: 0, upserts: 0, signals: 0, heartbeats: 0, queries: 0 };
}

export function totalOf(a: ActionCounts): number {
  return a.starts + a.activities + a.localActs + a.timers + a.upserts + a.signals + a.heartbeats + a.queries;
}

/** The actions one execution's history records. */
export function historyActions(history: temporal.api.history.v1.IHistory): ActionCounts {
  const a = zeroActions();
  const localActTasks = new Set<string>();
  const started = new Map<string, number>();
  const scheduled: string[] = [];
  for (const ev of history.events ?? []) {
    switch (ev.eventType) {
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        a.starts++;
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        scheduled.push(String(ev.eventId));
        break;
      case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED: {
        const attrs = ev.activityTaskStartedEventAttributes!;
        started.set(String(attrs.scheduledEventId), attrs.attempt ?? 1);
        break;
      }
      case EventType.EVENT_TYPE_MARKER_RECORDED: {
        const attrs = ev.markerRecordedEventAttributes!;
        if (attrs.markerName === 'core_local_activity') localActTasks.add(String(attrs.workflowTaskCompletedEventId));
        break;
      }
      case EventType.EVENT_TYPE_TIMER_STARTED:
        a.timers++;
        break;
      case EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: {
        const fields = Object.keys(ev.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {});
        // The versioning attribute (patches) is exempt.
        if (fields.some((f) => f !== 'TemporalChangeVersion')) a.upserts++;
        break;
      }
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        a.signals++;
        break;
      default:
        break;
    }
  }
  // An activity still retrying when its workflow closed has no started event: one attempt at least.
  for (const id of scheduled) a.activities += started.get(id) ?? 1;
  a.localActs = localActTasks.size;
  return a;
}

function add(into: StageActions, a: ActionCounts): void {
  for (const k of Object.keys(a) as Array<keyof ActionCounts>) into[k] += a[k];
}

/** Server-wide request counts from the server's Prometheus endpoint (0 when the metric is absent). */
export async function serverRequestCounts(metricsUrl: string): Promise<{ heartbeats: number; queries: number; actions: number | null }> {
  const text = await (await fetch(metricsUrl)).text();
  const sum = (re: RegExp) =>
    text
      .split('\n')
      .filter((l) => re.test(l) && !l.startsWith('#'))
      .reduce((acc, l) => acc + Number(l.trim().split(/\s+/).pop()), 0);
  const actionLines = text.split('\n').filter((l) => /^action(\{|\s)/.test(l));
  return {
    heartbeats: sum(/^service_requests\{[^}]*operation="RecordActivityTaskHeartbeat(ById)?"/),
    queries: sum(/^service_requests\{[^}]*operation="QueryWorkflow"/),
    actions: actionLines.length ? actionLines.reduce((acc, l) => acc + Number(l.trim().split(/\s+/).pop()), 0) : null,
  };
}

export interface RunActions {
  runId: string;
  byStage: Record<string, StageActions>;
  total: StageActions;
}

/** Every execution carrying R4ecRunId = runId, its history read back and counted, grouped by stage (and domain). */
export async function countRunActions(client: Client, runId: string): Promise<RunActions> {
  const byStage: Record<string, StageActions> = {};
  const total: StageActions = { ...zeroActions(), executions: 0, events: 0, historyBytes: 0, total: 0 };
  const quoted = runId.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  for await (const wf of client.workflow.list({ query: `R4ecRunId = "${quoted}"` })) {
    const stage = String(wf.searchAttributes.R4ecStage?.[0] ?? 'unknown');
    const domain = wf.searchAttributes.R4ecDomain?.[0];
    const name = domain ? `${stage}/${String(domain)}` : stage;
    const h = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    const s = (byStage[name] ??= { ...zeroActions(), executions: 0, events: 0, historyBytes: 0, total: 0 });
    const a = historyActions(h);
    const bytes = temporal.api.history.v1.History.encode(h).finish().length;
    for (const into of [s, total]) {
      add(into, a);
      into.executions++;
      into.events += h.events?.length ?? 0;
      into.historyBytes += bytes;
    }
  }
  for (const s of [...Object.values(byStage), total]) s.total = totalOf(s);
  return { runId, byStage, total };
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      run: { type: 'string' },
      address: { type: 'string', default: '127.0.0.1:7233' },
      namespace: { type: 'string', default: 'default' },
      metrics: { type: 'string' },
      entities: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (!a.run) throw new Error('usage: npx tsx bench/actions.ts --run ID [--address host:port] [--metrics URL] [--entities N] [--json]');
  const connection = await Connection.connect({ address: a.address });
  try {
    const client = new Client({ connection, namespace: a.namespace });
    const r = await countRunActions(client, a.run);
    if (a.metrics) {
      const m = await serverRequestCounts(a.metrics);
      r.total.heartbeats += m.heartbeats;
      r.total.queries += m.queries;
      r.total.total = totalOf(r.total);
    }
    const n = a.entities ? Number(a.entities) : undefined;
    if (a.json) console.log(JSON.stringify({ ...r, ...(n ? { perEntity: r.total.total / n } : {}) }));
    else {
      for (const [stage, s] of Object.entries(r.byStage)) {
        console.log(`${stage.padEnd(18)} ${String(s.total).padStart(8)} actions  ${String(s.executions).padStart(6)} executions  ${String(s.events).padStart(8)} events  ${(s.historyBytes / 1024).toFixed(0).padStart(8)} KiB  ${JSON.stringify({ starts: s.starts, activities: s.activities, localActs: s.localActs, timers: s.timers, upserts: s.upserts, signals: s.signals })}`);
      }
      console.log(`total ${r.total.total} actions (heartbeats ${r.total.heartbeats}, queries ${r.total.queries}${a.metrics ? ', from the server metrics' : '; not in histories: pass --metrics'})${n ? `, ${(r.total.total / n).toFixed(3)} per entity` : ''}`);
    }
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
