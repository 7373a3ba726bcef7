// loadConfig(): YAML file (or plain JSON, or nothing) + env overrides → validated config.
// Parsing happens only when called, never on import. A bad config lists every problem.
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { R4ecError } from '../core/errors';
import { hashJson } from '../core/util/hash';
import { R4ecConfigSchema, type R4ecConfig } from './schema';

export const ENV_PREFIX = 'R4EC__';

export interface LoadedConfig {
  config: R4ecConfig;
  /** The input as given (file + overrides), before defaults: what a plain `temporal workflow start` would carry. */
  raw: Record<string, unknown>;
  /** Hash of the validated config (defaults applied). */
  hash: string;
  source: string;
}

export class ConfigError extends R4ecError {
  constructor(
    readonly problems: string[],
    source: string,
    suggestion: string,
  ) {
    super(`invalid config (${source}):\n  ${problems.join('\n  ')}`, 'config_invalid', { suggestion, exitCode: 2 });
    this.name = 'ConfigError';
  }
}

/** `R4EC__LLM__SIMULATOR__LATENCY_MS=500` → llm.simulator.latencyMs = 500 (JSON values, else strings). */
export function envOverrides(env: NodeJS.ProcessEnv): Array<{ path: string[]; value: unknown; name: string }> {
  const out: Array<{ path: string[]; value: unknown; name: string }> = [];
  for (const [name, rawValue] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || rawValue === undefined) continue;
    const path = name
      .slice(ENV_PREFIX.length)
      .split('__')
      .map((seg) => seg.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()));
    let value: unknown = rawValue;
    try {
      value = JSON.parse(rawValue);
    } catch {
      /* a plain string */
    }
    out.push({ path, value, name });
  }
  return out;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = target;
  for (const seg of path.slice(0, -1)) {
    const next = cur[seg];
    if (!next || typeof next !== 'object' || Array.isArray(next)) cur[seg] = {};
    cur = cur[seg] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

export function validateConfig(raw: unknown, source: string): R4ecConfig {
  const r = R4ecConfigSchema.safeParse(raw);
  if (r.success) return r.data;
  throw new ConfigError(r.error.issues.map((i) => describeIssue(i, raw)), source, 'fix the fields above; `r4ec run --help` lists the config file format, and README "Configuration" shows a full example');
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  const where = issue.path.length ? issue.path.join('.') : '(root)';
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(issue.path);
    const hints = issue.keys.map((k) => {
      const near = closest(k, known);
      return near ? `"${k}" (did you mean "${near}"?)` : `"${k}"`;
    });
    return `${where}: unknown key ${hints.join(', ')}`;
  }
  void raw;
  return `${where}: ${issue.message}`;
}

function knownKeysAt(path: PropertyKey[]): string[] {
  // Walk the schema's shape along the path (objects only; enough for key suggestions).
  let schema: unknown = R4ecConfigSchema;
  for (const seg of path) {
    schema = unwrap(schema);
    const shape = (schema as { shape?: Record<string, unknown> }).shape;
    if (!shape) return [];
    schema = shape[String(seg)];
  }
  const shape = (unwrap(schema) as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape) : [];
}

function unwrap(schema: unknown): unknown {
  let s = schema as { def?: { innerType?: unknown; type?: string } } | undefined;
  for (let i = 0; i < 5 && s?.def?.innerType; i++) s = s.def.innerType as typeof s;
  return s;
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function levenshtein(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

/** Reads a config file (YAML or JSON; absent = the embedded default) and applies env overrides. */
export function loadConfig(opts: { path?: string | undefined; env?: NodeJS.ProcessEnv } = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  let raw: Record<string, unknown> = {};
  const source = opts.path ?? '(embedded default)';
  if (opts.path) {
    let text: string;
    try {
      text = readFileSync(opts.path, 'utf8');
    } catch (err) {
      throw new R4ecError(`cannot read config file ${opts.path}: ${(err as Error).message}`, 'config_unreadable', {
        suggestion: 'check the path given to --config',
        exitCode: 2,
      });
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (err) {
      const e = err as YAMLParseError;
      const line = e.linePos?.[0]?.line;
      throw new ConfigError([`${opts.path}${line ? `:${line}` : ''}: ${e.message.split('\n')[0]}`], source, 'fix the YAML syntax at the line shown');
    }
    if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      throw new ConfigError([`(root): expected a mapping of sections (temporal, dataset, llm, …), got ${Array.isArray(parsed) ? 'a list' : typeof parsed}`], source, 'see README "Configuration"');
    }
    raw = (parsed ?? {}) as Record<string, unknown>;
  }
  raw = structuredClone(raw);
  for (const o of envOverrides(env)) setPath(raw, o.path, o.value);
  const config = validateConfig(raw, source);
  return { config, raw, hash: hashJson(config), source };
}
