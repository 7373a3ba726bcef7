// The one progress-line type of every trainer job (trainer/common/progress.py writes them): each
// line names its event and the process that wrote it; the fields below are the ones the runner
// follows, anything else (a `done` line's metrics) passes through for the stage to read.
import { z } from 'zod';

// JSON has no NaN: a diverged loss arrives as null.
const num = z.number().nullable().optional();
const text = z.string().nullable().optional();

export const JobEventSchema = z
  .object({
    event: z.string().min(1),
    pid: z.number().int().optional(),
    /** Seconds since the process started. */
    t: z.number().optional(),
    step: num,
    totalSteps: num,
    startStep: num,
    epoch: num,
    loss: num,
    /** A checkpoint's path (`checkpoint` lines). */
    path: text,
    resumedFrom: text,
    checkpoint: text,
    /** `error` lines: the trainer's error kind, its message and whether a rerun can help. */
    type: z.string().optional(),
    message: z.string().optional(),
    nonRetryable: z.boolean().optional(),
  })
  .passthrough();
export type JobEvent = z.infer<typeof JobEventSchema>;

/** The last line a job writes: it finished, failed, or stopped on a signal (after a checkpoint). */
export const TERMINAL_EVENTS: readonly string[] = ['done', 'error', 'stopped'];

/** One line of progress.jsonl, or undefined for anything that is not a progress line. */
export function parseJobEvent(line: string): JobEvent | undefined {
  if (!line.trim()) return undefined;
  try {
    const r = JobEventSchema.safeParse(JSON.parse(line));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** Where a job is, as far as its progress lines tell; what heartbeats carry. */
export interface JobState {
  pid?: number;
  /** True when this attempt followed a trainer it did not start (a worker restarted under it). */
  attached: boolean;
  /** Trainer processes this attempt started. */
  launches: number;
  /** The event of the latest line. */
  event?: string;
  startStep?: number;
  resumedFrom?: string | null;
  step?: number;
  totalSteps?: number;
  epoch?: number;
  loss?: number;
  checkpoint?: string;
  checkpointStep?: number;
  checkpointEpoch?: number;
  /** The stored checkpoint put into the work directory before the last start (another machine's, or a deleted state dir's). */
  restoredCheckpoint?: string;
  /** CUDA_VISIBLE_DEVICES of the trainer this attempt started. */
  device?: string;
}

const n = (v: number | null | undefined) => (typeof v === 'number' ? v : undefined);

export function applyEvent(state: JobState, e: JobEvent): void {
  state.event = e.event;
  if (e.event === 'start') {
    state.startStep = n(e.startStep);
    state.resumedFrom = e.resumedFrom ?? null;
    state.step = n(e.startStep);
  }
  if (typeof e.step === 'number') state.step = e.step;
  if (typeof e.totalSteps === 'number') state.totalSteps = e.totalSteps;
  if (typeof e.epoch === 'number') state.epoch = e.epoch;
  if (e.event === 'step') state.loss = n(e.loss);
  if (e.event === 'checkpoint' && typeof e.path === 'string') {
    state.checkpoint = e.path;
    state.checkpointStep = n(e.step);
    state.checkpointEpoch = n(e.epoch);
  }
}
