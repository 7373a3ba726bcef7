// A fan-out stage (construct, refine) commits its output only while the share of its units that
// failed (failed_format, failed_transport) stays within the stage's `failureLimit`. Above it, the
// stage fails with the most frequent failure messages and their counts, and nothing is committed
// under its key: an unset API key or a dead endpoint must not become an "output" that later runs
// skip to. The refusal is written beside the work area, so the next execution of the stage redoes
// exactly the failed units (the completed ones keep their records and the LLM cache answers their
// calls): the fixed rerun pays only for what failed.
import { z } from 'zod';
import { R4ecError } from '../errors';
import type { ArtifactStore } from '../store';

export interface UnitFailure {
  outcome: string;
  message: string;
}

export interface FailureTally {
  /** Units that ran (approximated users and units skipped at the call cap are not counted). */
  units: number;
  failed: number;
  /** Distinct messages, most frequent first. */
  messages: Array<{ message: string; outcome: string; count: number }>;
}

/** How many distinct messages a refusal shows (and how long each may be). */
export const SHOWN_MESSAGES = 5;
const MESSAGE_CHARS = 400;

export function tallyFailures(units: number, failures: readonly UnitFailure[]): FailureTally {
  const byMessage = new Map<string, { message: string; outcome: string; count: number }>();
  for (const f of failures) {
    const message = f.message.length > MESSAGE_CHARS ? `${f.message.slice(0, MESSAGE_CHARS)}…` : f.message;
    const k = `${f.outcome}\u0000${message}`;
    const e = byMessage.get(k);
    if (e) e.count++;
    else byMessage.set(k, { message, outcome: f.outcome, count: 1 });
  }
  // Most frequent first; ties in the order first seen (the unit order).
  const messages = [...byMessage.values()].sort((a, b) => b.count - a.count);
  return { units, failed: failures.length, messages };
}

/** True when the failures exceed the limit (a share of the units, 0..1). */
export function overFailureLimit(t: Pick<FailureTally, 'units' | 'failed'>, limit: number): boolean {
  return t.units > 0 && t.failed > limit * t.units;
}

const pct = (x: number) => `${(Math.round(x * 1000) / 10).toString()} %`;

/** The stage failed too often: nothing committed (not retryable: the same records fail the same way). */
export class StageFailureLimit extends R4ecError {
  constructor(
    readonly stage: string,
    readonly tally: FailureTally,
    readonly limit: number,
    limitKey: string,
    unitName: string,
  ) {
    const lines = tally.messages.slice(0, SHOWN_MESSAGES).map((m) => `  ${m.count}× ${m.outcome}: ${m.message}`);
    const more = tally.messages.length - SHOWN_MESSAGES;
    if (more > 0) lines.push(`  … and ${more} other distinct message${more === 1 ? '' : 's'}`);
    super(
      `${stage}: ${tally.failed} of ${tally.units} ${unitName} failed (${pct(tally.failed / tally.units)}), above ${limitKey} (${pct(limit)}); nothing was committed. ` +
        `The first distinct failures:\n${lines.join('\n')}`,
      'StageFailureLimit',
      {
        suggestion: `fix the cause and run again: the completed ${unitName} are kept and their LLM calls are cached, so only the ${tally.failed} failed ones are redone (or raise ${limitKey})`,
      },
    );
    this.name = 'StageFailureLimit';
  }

  override details(): Record<string, unknown> {
    return { stage: this.stage, units: this.tally.units, failed: this.tally.failed, limit: this.limit, messages: this.tally.messages.slice(0, SHOWN_MESSAGES) };
  }
}

const RefusalSchema = z.object({ at: z.string(), units: z.number().int(), failed: z.array(z.string()) }).strict();
export type Refusal = z.infer<typeof RefusalSchema>;

/** Records which units failed when the stage refused to commit (overwrites an earlier refusal). */
export async function writeRefusal(store: ArtifactStore, key: string, r: Omit<Refusal, 'at'>): Promise<void> {
  await store.put(key, JSON.stringify({ at: new Date().toISOString(), ...r } satisfies Refusal));
}

/**
 * The next execution of a refused stage: forgets the failed units' records so they run again, then
 * the refusal. Idempotent: a crash midway leaves the refusal, and the next attempt finishes the job.
 */
export async function redoRefusedUnits(store: ArtifactStore, key: string, recordKeyOf: (unit: string) => string | undefined): Promise<number> {
  if (!(await store.exists(key))) return 0;
  let raw: unknown;
  try {
    raw = JSON.parse((await store.get(key)).toString('utf8'));
  } catch {
    raw = undefined;
  }
  const parsed = RefusalSchema.safeParse(raw);
  if (parsed.success) {
    for (const unit of parsed.data.failed) {
      const k = recordKeyOf(unit);
      if (k !== undefined) await store.delete(k);
    }
  }
  await store.delete(key);
  return parsed.success ? parsed.data.failed.length : 0;
}
