// The LLM preflight: before a stage sends its first inference, every configured role's endpoint is
// checked once: its API key variable is set, the endpoint answers, accepts the key, and serves the
// role's model (OpenAI-compatible `GET /models`). Every problem is one line naming the role, the
// endpoint and the fix, so a missing key or a typo in a model name fails the run in seconds instead
// of as thousands of failed inferences. Roles served by the simulator pass without a request.
import { LLM_ROLES, type LlmRole } from '../../config/names';
import type { EndpointConfig } from '../../config/schema';
import { R4ecError } from '../errors';
import { scrub } from './errors';

export type PreflightProblemKind = 'key_missing' | 'unreachable' | 'unauthorized' | 'forbidden' | 'not_found' | 'model_not_served' | 'bad_response';

export interface PreflightProblem {
  role: LlmRole;
  kind: PreflightProblemKind;
  message: string;
}

export interface PreflightRole {
  role: LlmRole;
  /** undefined: the simulator answers this role. */
  endpoint: EndpointConfig | undefined;
}

export interface PreflightResult {
  checked: Array<{ role: LlmRole; endpoint: string; model: string } | { role: LlmRole; simulator: true }>;
  problems: PreflightProblem[];
  /** Answers that say nothing either way (429, 5xx): the calls themselves retry these. */
  warnings: string[];
}

export interface PreflightOptions {
  roles: readonly PreflightRole[];
  /** Where API keys are read from by name (the llm worker's environment). */
  env: NodeJS.ProcessEnv;
  /** Per request (default: the endpoint's timeout, at most 15 s). */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

const MAX_WAIT_MS = 15_000;

interface ModelsAnswer {
  status: number;
  ids?: string[];
  error?: string;
}

async function listModels(baseUrl: string, apiKey: string | undefined, timeoutMs: number, f: typeof fetch): Promise<ModelsAnswer> {
  const url = `${baseUrl.replace(/\/+$/, '')}/models`;
  const res = await f(url, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {}, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (res.status !== 200) return { status: res.status, error: text.slice(0, 200) };
  try {
    const body = JSON.parse(text) as { data?: Array<{ id?: unknown }> };
    if (!Array.isArray(body.data)) return { status: res.status, error: 'no "data" list' };
    return { status: res.status, ids: body.data.flatMap((m) => (typeof m.id === 'string' ? [m.id] : [])) };
  } catch {
    return { status: res.status, error: `not JSON: ${text.slice(0, 80)}` };
  }
}

/** Checks each role (endpoints shared by several roles are asked once). Never throws for a problem: it returns them. */
export async function preflightRoles(o: PreflightOptions): Promise<PreflightResult> {
  const f = o.fetch ?? fetch;
  const result: PreflightResult = { checked: [], problems: [], warnings: [] };
  const answers = new Map<string, Promise<ModelsAnswer | { status: 0; error: string }>>();
  for (const { role, endpoint } of o.roles) {
    if (!endpoint) {
      result.checked.push({ role, simulator: true });
      continue;
    }
    const where = `llm.${role} (${endpoint.baseUrl}, model ${endpoint.model})`;
    result.checked.push({ role, endpoint: endpoint.baseUrl, model: endpoint.model });
    const keyName = endpoint.apiKeyEnv;
    const apiKey = keyName ? o.env[keyName] : undefined;
    if (keyName && !apiKey) {
      result.problems.push({ role, kind: 'key_missing', message: `${where}: the environment variable ${keyName} (llm.${role}.apiKeyEnv) is not set for the llm worker: export it where the worker runs` });
      continue;
    }
    const id = `${endpoint.baseUrl}\u0000${keyName ?? ''}`;
    let pending = answers.get(id);
    if (!pending) {
      const timeoutMs = o.timeoutMs ?? Math.min(endpoint.timeoutMs, MAX_WAIT_MS);
      pending = listModels(endpoint.baseUrl, apiKey, timeoutMs, f).catch((e: unknown) => {
        const err = e as Error & { cause?: { code?: string; message?: string } };
        const why = err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err.cause?.code ?? err.cause?.message ?? err.message);
        return { status: 0 as const, error: why };
      });
      answers.set(id, pending);
    }
    const a = await pending;
    const detail = scrub(a.error ?? '', [apiKey]);
    if (a.status === 0) {
      result.problems.push({ role, kind: 'unreachable', message: `${where}: cannot reach the endpoint (${detail}): check llm.${role}.baseUrl and that the server is running` });
    } else if (a.status === 401) {
      result.problems.push({
        role,
        kind: 'unauthorized',
        message: `${where}: the endpoint refused the API key (401)${keyName ? `: check the key in ${keyName}` : `: it needs one; name its environment variable in llm.${role}.apiKeyEnv`}`,
      });
    } else if (a.status === 403) {
      result.problems.push({ role, kind: 'forbidden', message: `${where}: the endpoint forbids this key (403): check the key's project and permissions` });
    } else if (a.status === 404) {
      result.problems.push({ role, kind: 'not_found', message: `${where}: GET /models answered 404: check llm.${role}.baseUrl (an OpenAI-compatible server answers at …/v1/models)` });
    } else if (a.status === 429 || a.status >= 500) {
      result.warnings.push(`${where}: GET /models answered ${a.status}; the model could not be checked`);
    } else if (a.status !== 200 || !a.ids) {
      result.problems.push({ role, kind: 'bad_response', message: `${where}: GET /models answered ${a.status} (${detail}): this does not look like an OpenAI-compatible endpoint` });
    } else if (!a.ids.includes(endpoint.model)) {
      const shown = a.ids.slice(0, 8).join(', ') + (a.ids.length > 8 ? `, … (${a.ids.length})` : '');
      result.problems.push({ role, kind: 'model_not_served', message: `${where}: model "${endpoint.model}" is not served there (it serves: ${shown || 'nothing'}): check llm.${role}.model` });
    }
  }
  return result;
}

/** The roles of a config in order, each with its endpoint or the simulator. */
export function preflightRolesOf(endpointOf: (role: LlmRole) => EndpointConfig | undefined): PreflightRole[] {
  return LLM_ROLES.map((role) => ({ role, endpoint: endpointOf(role) }));
}

/** One line per problem: the run stops before any inference. */
export class LlmPreflightFailed extends R4ecError {
  constructor(readonly problems: readonly PreflightProblem[]) {
    super(
      `LLM preflight: ${problems.length} problem${problems.length === 1 ? '' : 's'} before any inference was sent:\n${problems.map((p) => `  ${p.message}`).join('\n')}`,
      'LlmPreflightFailed',
      { suggestion: 'fix each line above and run again (nothing was sent or committed)' },
    );
    this.name = 'LlmPreflightFailed';
  }

  override details(): Record<string, unknown> {
    return { problems: this.problems.map((p) => ({ role: p.role, kind: p.kind })) };
  }
}
