// The one error handler of every entry point: code, message, where (file:line, field) and suggestion;
// never a stack for a known error (R4EC_DEBUG=1 shows it). With --json the same facts go to stdout
// as the `failure` block. Errors that other libraries raise for known causes (a Temporal failure
// carrying an r4ec error, an unreachable server, a busy port) are named as such, not "[unexpected]".
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { R4ecError, type ErrorBlock } from '../core/errors';
import { errorBlock, errorWhere } from '../core/rules/error-block';

interface Known {
  block: ErrorBlock;
  exitCode: number;
  stack?: string | undefined;
}

function causes(err: unknown): unknown[] {
  const out: unknown[] = [];
  let e: unknown = err;
  for (let i = 0; i < 10 && e !== undefined && e !== null; i++) {
    out.push(e);
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

/** The known error inside `err` (itself, or what it wraps), as a block; undefined for a bug. */
export function knownError(err: unknown): Known | undefined {
  const chain = causes(err);
  const r4ec = chain.find((e): e is R4ecError => e instanceof R4ecError);
  if (r4ec) return { block: r4ec.block(), exitCode: r4ec.exitCode, stack: r4ec.stack };
  // A Temporal failure (a workflow or activity failed): the innermost one says why.
  const app = [...chain].reverse().find((e): e is ApplicationFailure => e instanceof ApplicationFailure);
  if (app) return { block: errorBlock(app.type ?? app.name, app.message, app.details?.[0]), exitCode: 1, stack: app.stack };
  const tf = [...chain].reverse().find((e): e is TemporalFailure => e instanceof TemporalFailure);
  if (tf) return { block: errorBlock(tf.name, tf.message), exitCode: 1, stack: tf.stack };
  for (const e of chain) {
    const x = e as { code?: unknown; name?: string; message?: string; details?: string; syscall?: string; port?: number; address?: string };
    if (typeof x !== 'object') continue;
    // gRPC: 14 UNAVAILABLE, 4 DEADLINE_EXCEEDED while connecting.
    if (x.name === 'ServiceError' || x.name === 'TransportError' || (typeof x.code === 'number' && (x.code === 14 || x.code === 4) && typeof x.details === 'string')) {
      return {
        block: errorBlock('temporal_unreachable', `cannot reach the Temporal server: ${x.details ?? x.message ?? ''}`, undefined, {
          suggestion: 'is the server running (`r4ec up`, or temporal.address in the config)? `R4EC_DEBUG=1` shows the full error',
        }),
        exitCode: 1,
      };
    }
    if (x.code === 'EADDRINUSE') {
      return {
        block: errorBlock('port_in_use', `${x.address ?? '127.0.0.1'}:${x.port ?? '?'} is already in use`, undefined, { suggestion: 'choose another port (see --help), or stop the program holding it' }),
        exitCode: 1,
      };
    }
  }
  return undefined;
}

export interface HandleErrorOptions {
  /** --json: the failure block also goes to stdout, in `jsonShape` (default `{ error, failure }`). */
  json?: boolean;
  jsonShape?: (failure: ErrorBlock) => unknown;
  writeOut?: (s: string) => void;
}

/** Prints one error block (stderr form). */
export function printErrorBlock(b: ErrorBlock, write: (s: string) => void): void {
  write(`r4ec: error [${b.code}]: ${b.message}\n`);
  const where = errorWhere(b);
  // A DataError's message starts with its place already.
  if (where && !(b.file !== undefined && b.message.startsWith(b.file))) write(`  at: ${where}\n`);
  if (b.suggestion) write(`  suggestion: ${b.suggestion}\n`);
}

export function handleError(err: unknown, write: (s: string) => void = (s) => process.stderr.write(s), opts: HandleErrorOptions = {}): number {
  const known = knownError(err);
  const block = known?.block ?? errorBlock('unexpected', (err as Error)?.message ?? String(err));
  printErrorBlock(block, write);
  const stack = known ? known.stack : (err as Error | undefined)?.stack;
  if (stack && (!known || process.env.R4EC_DEBUG)) write(`${stack}\n`);
  if (opts.json) (opts.writeOut ?? ((s: string) => process.stdout.write(s)))(JSON.stringify(opts.jsonShape ? opts.jsonShape(block) : { error: `${block.code}: ${block.message}`, failure: block }) + '\n');
  return known?.exitCode ?? 1;
}
