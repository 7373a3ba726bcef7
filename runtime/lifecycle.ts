// What a long-running command owns and how it stops. Every resource (dev server, workers, client,
// simulator, model server) is registered the moment it exists, so a signal or a failure at any point,
// startup included, stops exactly what was started, newest first, each within a bounded time.
// SIGINT/SIGTERM abort the command; a second signal stops everything at once.
import { R4ecError } from '../core/errors';
import { stopAllOwned } from '../core/util/owned-process';

/** How a command ended because of a signal: its message, and the exit status (130 / 143). */
export class Interrupted extends R4ecError {
  constructor(
    readonly signalName: NodeJS.Signals,
    message: string,
    suggestion?: string,
  ) {
    super(message, 'interrupted', { suggestion, exitCode: signalName === 'SIGINT' ? 130 : 143 });
    this.name = 'Interrupted';
  }
}

interface Resource {
  name: string;
  stop: () => Promise<void>;
  timeoutMs: number;
}

export class Lifecycle {
  private readonly controller = new AbortController();
  private readonly resources: Resource[] = [];
  private closing: Promise<void> | undefined;
  private abortedWith: ((reason: unknown) => void) | undefined;
  /** Rejects with the reason as soon as the command is interrupted or fails in the background. */
  readonly aborted: Promise<never>;
  /** The first signal received, if any. */
  signalName: NodeJS.Signals | undefined;
  /** Services (`up`, `worker`, `sim-llm`, `serve-model`): a signal is their normal stop (exit 0). */
  signalIsStop = false;
  /** What an interruption means for this command (run: the run keeps its state; how to resume). */
  describeInterrupt: ((sig: NodeJS.Signals) => Interrupted) | undefined;

  constructor(private readonly log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)) {
    this.aborted = new Promise<never>((_, reject) => {
      this.abortedWith = reject;
    });
    // Nobody may be listening yet (a command that never races against it).
    this.aborted.catch(() => undefined);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get interrupted(): boolean {
    return this.signalName !== undefined;
  }

  /** Registers `stop` to run when the command ends, newest first. Returns a function that unregisters it. */
  defer(name: string, stop: () => Promise<void>, timeoutMs = 10_000): () => void {
    const r: Resource = { name, stop, timeoutMs };
    this.resources.push(r);
    return () => {
      const i = this.resources.indexOf(r);
      if (i >= 0) this.resources.splice(i, 1);
    };
  }

  /** The signal's error: the command's own description, or a plain one. */
  interruptError(): Interrupted {
    const sig = this.signalName ?? 'SIGINT';
    return this.describeInterrupt?.(sig) ?? new Interrupted(sig, `interrupted by ${sig}`);
  }

  interrupt(sig: NodeJS.Signals): void {
    if (this.signalName) return;
    this.signalName = sig;
    this.controller.abort(this.interruptError());
    this.abortedWith?.(this.interruptError());
  }

  /** A failure outside the command's own await chain (a worker that must stop): end the command with it. */
  fail(err: unknown): void {
    if (this.controller.signal.aborted) return;
    this.controller.abort(err);
    this.abortedWith?.(err);
  }

  /** The reason the command was aborted (a signal's Interrupted or a background failure). */
  get reason(): unknown {
    return this.controller.signal.aborted ? this.controller.signal.reason : undefined;
  }

  /** Stops every registered resource, newest first; each gets its own time, the whole `totalMs`. */
  close(totalMs = 15_000): Promise<void> {
    this.closing ??= (async () => {
      const deadline = Date.now() + totalMs;
      while (this.resources.length > 0) {
        const r = this.resources.pop()!;
        const left = Math.max(0, Math.min(r.timeoutMs, deadline - Date.now()));
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((res) => {
          timer = setTimeout(() => res('timeout'), left);
        });
        try {
          const how = await Promise.race([r.stop().then(() => 'ok' as const), timedOut]);
          if (how === 'timeout') this.log(`r4ec: ${r.name} did not stop within ${Math.round(left / 1000)} s; going on`);
        } catch (err) {
          this.log(`r4ec: stopping ${r.name}: ${(err as Error)?.message ?? String(err)}`);
        } finally {
          clearTimeout(timer);
        }
      }
    })();
    return this.closing;
  }
}

/**
 * SIGINT/SIGTERM → `life.interrupt`; a second one → every owned child killed and `onForce` (exit).
 * Returns a function that removes the handlers.
 */
export function handleSignals(life: Lifecycle, opts: { onForce: (sig: NodeJS.Signals) => void; log?: (line: string) => void }): () => void {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const on = (sig: NodeJS.Signals) => {
    if (!life.interrupted) {
      log(`r4ec: ${sig} received: stopping${life.signalIsStop ? '' : ' (press Ctrl-C again to stop at once)'}`);
      life.interrupt(sig);
      return;
    }
    log(`r4ec: ${sig} again: stopping now`);
    stopAllOwned('SIGKILL');
    opts.onForce(sig);
  };
  const onInt = () => on('SIGINT');
  const onTerm = () => on('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return () => {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  };
}

/**
 * Runs a command under a lifecycle: signals handled from the first moment, every registered
 * resource stopped at the end (success, failure or signal), the error reported by `report`.
 * Returns the exit status.
 */
export async function runWithLifecycle(body: (life: Lifecycle) => Promise<number>, report: (err: unknown, life: Lifecycle) => number): Promise<number> {
  const life = new Lifecycle();
  const off = handleSignals(life, { onForce: (sig) => process.exit(sig === 'SIGINT' ? 130 : 143) });
  let code: number;
  let failure: { err: unknown } | undefined;
  try {
    const work = body(life);
    // After a signal the command's own promise is abandoned; it may still settle while stopping.
    work.catch(() => undefined);
    code = await Promise.race([work, life.aborted]);
  } catch (err) {
    failure = { err };
    code = 1;
  }
  // A failure while the command was already aborted is the abort's consequence: report the abort.
  if (life.reason !== undefined && failure) failure = { err: life.reason };
  await life.close();
  off();
  if (failure) {
    if (failure.err instanceof Interrupted && life.signalIsStop) {
      process.stderr.write(`r4ec: stopped (${failure.err.signalName})\n`);
      return 0;
    }
    code = report(failure.err, life);
  }
  return code;
}
