// What the batch activities of construct and refine share: the entities of one batch run at once in
// this process (the LLM client's limiter bounds the requests in flight), progress is reported as
// each finishes, and the first error that is not an entity outcome (a rejected request: bad key,
// unknown model) aborts the others and ends the batch with that error.
import { setMaxListeners } from 'node:events';
import type { LlmRole } from '../../config/names';
import type { LlmClient } from '../llm/client';

/** The LLM side of a batch: a client per role, and the simulator taught the dataset's catalog. */
export interface BatchLlm {
  client(role: LlmRole): LlmClient;
  /** Called once per batch and role before its first call (no-op without a simulator). */
  prepare?(role: LlmRole, catalogKey: string): Promise<void>;
}

export interface BatchHooks {
  /** The activity's cancellation (a heartbeat timeout, a cancelled stage). */
  signal?: AbortSignal;
  /** Entities finished so far in this batch (heartbeat details). */
  progress?(done: number): void;
  /** Who writes the records: `batch/<workflow run>/<activity id>` (core/rules `batchExecution`). */
  execution: string;
}

/**
 * Runs `run` for every unit at once; resolves with their results in order. The first unit that
 * throws, or calls `stop` (synchronously, e.g. from LlmClient's `onRejected`, so no request waiting
 * for a slot goes out after it), aborts the rest (their signal); the batch rejects with that error.
 */
export async function runBatchUnits<U, R>(units: readonly U[], hooks: BatchHooks, run: (unit: U, signal: AbortSignal, stop: (err: unknown) => void) => Promise<R>): Promise<R[]> {
  const controller = new AbortController();
  // Every request in flight (and every one waiting for a slot) listens to it.
  setMaxListeners(0, controller.signal);
  const onCancel = () => controller.abort(hooks.signal?.reason);
  if (hooks.signal?.aborted) onCancel();
  hooks.signal?.addEventListener('abort', onCancel, { once: true });
  let first: { err: unknown } | undefined;
  const stop = (err: unknown) => {
    if (first) return;
    first = { err };
    controller.abort(err);
  };
  let done = 0;
  try {
    const settled = await Promise.allSettled(
      units.map(async (u) => {
        try {
          const r = await run(u, controller.signal, stop);
          hooks.progress?.(++done);
          return r;
        } catch (err) {
          stop(err);
          throw err;
        }
      }),
    );
    if (first) throw first.err;
    return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
  } finally {
    hooks.signal?.removeEventListener('abort', onCancel);
  }
}
