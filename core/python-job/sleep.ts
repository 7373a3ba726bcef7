// The pause of a job runner's poll loop (this folder's trainer jobs, and the remote fine-tuning jobs
// that poll a provider the same way).
/** Waits `ms`, or less when `signal` aborts first: a poll loop's pause that a cancellation cuts short (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
