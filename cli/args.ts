import { parseArgs, type ParseArgsConfig } from 'node:util';
import { R4ecError, type ErrorBlock } from '../core/errors';
import type { Lifecycle } from '../runtime/lifecycle';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  description: string;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  /** Lines after the usage in --help. */
  details?: string;
  allowPositionals?: boolean;
  /**
   * Everything the command starts registers with `life` (stopped at the end, on a signal or a
   * failure); long waits race `life.aborted`.
   */
  run(args: ParsedArgs, life: Lifecycle): Promise<number>;
  /** `--json` output when the command fails (default `{ error, failure }`). */
  jsonError?: (failure: ErrorBlock) => unknown;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export function parse(cmd: Command, argv: string[]): ParsedArgs | 'help' {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  try {
    const options: NonNullable<ParseArgsConfig['options']> = {};
    for (const [k, o] of Object.entries(cmd.options)) options[k] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
    const r = parseArgs({ args: argv, options, allowPositionals: cmd.allowPositionals ?? false, strict: true });
    return { values: r.values as ParsedArgs['values'], positionals: r.positionals };
  } catch (err) {
    throw new R4ecError(`${cmd.name}: ${(err as Error).message}`, 'bad_arguments', { suggestion: `see \`r4ec ${cmd.name} --help\``, exitCode: 2 });
  }
}

export function helpText(cmd: Command): string {
  const lines = [`r4ec ${cmd.name} — ${cmd.summary}`, '', `usage: ${cmd.usage}`];
  const opts = Object.entries(cmd.options);
  if (opts.length) {
    lines.push('', 'options:');
    for (const [name, o] of opts) {
      const flag = `--${name}${o.type === 'string' ? ' VALUE' : ''}${o.short ? `, -${o.short}` : ''}`;
      lines.push(`  ${flag.padEnd(28)}${o.description}`);
    }
  }
  lines.push(`  ${'--help'.padEnd(28)}this help`);
  if (cmd.details) lines.push('', cmd.details);
  return lines.join('\n') + '\n';
}

export const str = (v: ParsedArgs['values'][string]): string | undefined => (typeof v === 'string' ? v : undefined);

/** A `--name N` option that must be a whole number from 1 on; `fallback` when it is not given. */
export function positiveInt(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new R4ecError(`--${name}: expected a positive integer, got "${v}"`, 'bad_arguments', { exitCode: 2 });
  return n;
}
