// Train activities (gpu queue): planTraining → trainBackbone per job → collectTraining.
// trainBackbone trains one model through the trainer-job runner (core/ctr/train-model.ts) and
// heartbeats its progress ({ event, epoch, step, checkpoint }) on every trainer line and from a side
// timer; a retry after a crash resumes from the trainer's newest epoch checkpoint.
import { Context } from '@temporalio/activity';
import { z } from 'zod';
import { TrainSchema } from '../config/schema';
import {
  JobMetricsSchema,
  TrainJobSchema,
  collectTraining,
  jobName,
  planTraining,
  trainModel,
  type JobMetrics,
  type JobOutcome,
  type TrainPlan,
  type TrainSummary,
} from '../core/ctr';
import { trainerPython } from '../core/python-job';
import type { ActivityDeps } from './deps';
import { toFailure } from './failure';
import { withHeartbeat } from './heartbeat';
import { cancellationOf } from './trainer-job';
import { parseInput } from './validate';

export type { TrainPlan } from '../core/ctr';

const Artifact = z.object({ key: z.string().min(1), contentHash: z.string().min(1) });

const PlanInput = z.object({ runId: z.string().min(1), train: TrainSchema, ingest: Artifact, encode: Artifact.optional(), lookupOnly: z.boolean().default(false) });
export type PlanTrainingInput = z.input<typeof PlanInput>;

const TrainInput = z.object({ runId: z.string().min(1), train: TrainSchema, job: TrainJobSchema, ingest: Artifact, encode: Artifact.optional() });
export type TrainBackboneInput = z.input<typeof TrainInput>;
export interface TrainBackboneOutput {
  key: string;
  contentHash: string;
  skipped: boolean;
  metrics: JobMetrics;
}

const CollectInput = z.object({
  key: z.string().min(1),
  train: TrainSchema,
  outcomes: z.array(z.object({ job: TrainJobSchema, key: z.string().min(1), metrics: JobMetricsSchema })),
});
export type CollectTrainingInput = z.input<typeof CollectInput>;
export interface CollectTrainingOutput {
  key: string;
  contentHash: string;
  summary: TrainSummary;
}

/** Resume details of trainBackbone (what a retry logs; the checkpoint itself is on disk). */
const Heartbeat = z.object({ event: z.string(), job: z.string().optional(), epochs: z.number().optional(), epoch: z.number().optional(), step: z.number().optional(), checkpoint: z.string().optional() });

export function createTrainActivities(deps: ActivityDeps) {
  const python = deps.python ?? trainerPython(deps.env);

  return {
    /** The stage's output key; its summary when it exists already, else the jobs to run. */
    async planTraining(raw: PlanTrainingInput): Promise<TrainPlan> {
      const input = parseInput(PlanInput, raw, 'planTraining');
      try {
        return await withHeartbeat(() => planTraining({ store: deps.store, train: input.train, inputs: input, lookupOnly: input.lookupOnly }));
      } catch (err) {
        throw toFailure(err);
      }
    },

    /** Trains and evaluates one model (or the floor); reuses its output when it exists. */
    async trainBackbone(raw: TrainBackboneInput): Promise<TrainBackboneOutput> {
      const input = parseInput(TrainInput, raw, 'trainBackbone');
      const ctx = Context.current();
      const { job, train } = input;
      const previous = Heartbeat.safeParse(ctx.info.heartbeatDetails);
      const details: z.infer<typeof Heartbeat> = previous.success ? { ...previous.data, event: 'retry' } : { event: 'start', job: jobName(job), epochs: train.epochs };
      ctx.heartbeat(details);
      if (previous.success) ctx.log.info('trainBackbone resumes', { job: jobName(job), attempt: ctx.info.attempt, last: previous.data });
      try {
        // The side timer covers what runs outside the trainer (reading inputs, uploading the model).
        return await withHeartbeat((beat) => trainModel({
          store: deps.store,
          stateDir: deps.stateDir,
          job,
          train,
          inputs: input,
          python,
          env: deps.env,
          ...(deps.devices ? { devices: deps.devices } : {}),
          signal: ctx.cancellationSignal,
          onCheckpointError: (e) => ctx.log.warn('checkpoint upload to the store failed; training goes on', { job: jobName(job), error: e.message }),
          onEvent: (e) => {
            if (typeof e.epoch === 'number') details.epoch = e.epoch;
            if (typeof e.step === 'number') details.step = e.step;
            if (e.event === 'checkpoint' && typeof e.path === 'string') details.checkpoint = e.path;
            details.event = e.event;
            beat({ ...details, ...(e.event === 'epoch' ? { valAuc: e.valAuc, loss: e.loss } : {}) });
          },
          onHeartbeat: () => beat(details),
        }));
      } catch (err) {
        throw cancellationOf(ctx, err) ?? toFailure(err, { prefix: jobName(job) });
      }
    },

    /** Writes the stage output: summary.json, models.json (job → model key) and per model its
     * metrics, model.json and test predictions; commits it. */
    async collectTraining(raw: CollectTrainingInput): Promise<CollectTrainingOutput> {
      const input = parseInput(CollectInput, raw, 'collectTraining');
      return withHeartbeat(() => collectTraining(deps.store, input.key, input.train, input.outcomes as JobOutcome[]));
    },
  };
}
