// loadConfig(): YAML file (or plain JSON, or nothing) + env overrides → validated config.
// Parsing happens only when called, never on import. A bad config lists every problem.
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { R4ecError } from '../core/errors';
import { hashJson } from '../core/util/hash';
import { ConfigError, validateConfig } from '../core/validate-config';
import type { R4ecConfig } from '../config/schema';

// The error loadConfig throws for a bad file or value; callers catch it from here.
export { ConfigError };

export const ENV_PREFIX = 'R4EC__';

export interface LoadedConfig {
  config: R4ecConfig;
  /** The input as given (file + overrides), before defaults: what a plain `temporal workflow start` would carry. */
  raw: Record<string, unknown>;
  /** Hash of the validated config (defaults applied). */
  hash: string;
  source: string;
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
