// A config as data (a YAML file, env overrides or a workflow's input) checked against the one schema.
// A bad config lists every problem, with the nearest known key for a misspelt one.
import type { z } from 'zod';
import { R4ecConfigSchema, type R4ecConfig } from '../config/schema';
import { R4ecError } from './errors';

export class ConfigError extends R4ecError {
  constructor(
    readonly problems: string[],
    source: string,
    suggestion: string,
  ) {
    super(`invalid config (${source}):\n  ${problems.join('\n  ')}`, 'config_invalid', { suggestion, exitCode: 2 });
    this.name = 'ConfigError';
  }

  override details(): Record<string, unknown> {
    return { problems: this.problems };
  }
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
