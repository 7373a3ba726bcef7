// Per-endpoint admission: at most `concurrency` requests in flight and at most `requestsPerMinute`
// started in any 60 s window; a 429 with Retry-After pauses the whole endpoint until then, so
// concurrent callers do not hammer a server that asked for a break.

export interface LimiterOptions {
  concurrency: number;
  requestsPerMinute?: number | undefined;
  /** The rate window (60 s; tests shorten it). */
  windowMs?: number;
  now?: () => number;
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class EndpointLimiter {
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  private readonly starts: number[] = [];
  private pausedUntil = 0;
  private readonly now: () => number;
  /** The most requests ever in flight at once (tests and benches read it). */
  maxActive = 0;

  constructor(private readonly opts: LimiterOptions) {
    this.now = opts.now ?? Date.now;
  }

  get inFlight(): number {
    return this.active;
  }

  /** Pause new requests to this endpoint until `ms` from now (a 429's Retry-After). */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.now() + ms);
  }

  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal);
    try {
      await this.admitRate(signal);
      return await fn();
    } finally {
      this.release();
    }
  }

  private async acquire(signal?: AbortSignal): Promise<void> {
    if (this.active < this.opts.concurrency) {
      this.active++;
      this.maxActive = Math.max(this.maxActive, this.active);
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(grant);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(abortError(signal!));
      };
      if (signal?.aborted) return reject(abortError(signal));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(grant);
    });
    // The releasing caller handed its slot over: `active` already counts us.
    this.maxActive = Math.max(this.maxActive, this.active);
  }

  private release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.active--;
  }

  private async admitRate(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const t = this.now();
      if (this.pausedUntil > t) {
        await sleep(this.pausedUntil - t, signal);
        continue;
      }
      const rpm = this.opts.requestsPerMinute;
      if (!rpm) return;
      const window = this.opts.windowMs ?? 60_000;
      while (this.starts.length > 0 && this.starts[0]! <= t - window) this.starts.shift();
      if (this.starts.length < rpm) {
        this.starts.push(t);
        return;
      }
      await sleep(this.starts[0]! + window - t + 1, signal);
    }
  }
}

const registry = new Map<string, EndpointLimiter>();

/**
 * One limiter per endpoint per process, shared by every client of that base URL (roles often share
 * a server). The first caller's options win; a later caller with other options gets the same one.
 */
export function endpointLimiter(baseUrl: string, opts: LimiterOptions): EndpointLimiter {
  let l = registry.get(baseUrl);
  if (!l) {
    l = new EndpointLimiter(opts);
    registry.set(baseUrl, l);
  }
  return l;
}

export { sleep as abortableSleep };
