// Side-timer heartbeats. A worker that dies (kill -9, OOM, a lost machine) is only noticed by the
// server when its activity stops heartbeating, so every activity that can run longer than a moment
// is scheduled with a short heartbeat timeout (tens of seconds, from config) and heartbeats from a
// timer while it works: between its own steps, during a long store walk, a model load or a commit.
// The timer repeats the activity's last details, so resume details (a shard offset, an epoch) are
// never replaced by an empty beat.
import { Context } from '@temporalio/activity';

/** How often the timer beats: a few times per heartbeat timeout, at most every 10 s, at least every 1 s. */
export function beatIntervalMs(heartbeatTimeoutMs: number): number {
  return Math.max(1_000, Math.min(10_000, Math.floor(heartbeatTimeoutMs / 4)));
}

/**
 * Runs `fn` while a timer heartbeats (only when the caller set a heartbeat timeout). `beat(details)`
 * heartbeats at once with details and makes them the ones the timer repeats.
 */
export async function withHeartbeat<T>(fn: (beat: (details?: unknown) => void) => Promise<T>): Promise<T> {
  const ctx = Context.current();
  let last: unknown = ctx.info.heartbeatDetails;
  const beat = (details?: unknown) => {
    if (details !== undefined) last = details;
    ctx.heartbeat(last);
  };
  const timeoutMs = ctx.info.heartbeatTimeoutMs;
  const timer = timeoutMs ? setInterval(() => ctx.heartbeat(last), beatIntervalMs(timeoutMs)) : undefined;
  try {
    return await fn(beat);
  } finally {
    clearInterval(timer);
  }
}
