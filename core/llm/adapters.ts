// Loading and unloading LoRA adapters on a vLLM-compatible server (vLLM with
// VLLM_ALLOW_RUNTIME_LORA_UPDATING, or the simulator): POST {base}/load_lora_adapter with
// {lora_name, lora_path}; the adapter is then served under its name as a model.
import { LlmError } from './errors';

export interface AdapterRequest {
  /** The endpoint's base URL including /v1, as in config. */
  baseUrl: string;
  name: string;
  path?: string;
  apiKey?: string;
  fetch?: typeof fetch;
}

async function post(req: AdapterRequest, route: string, body: object): Promise<{ status: number; text: string }> {
  const f = req.fetch ?? fetch;
  const url = `${req.baseUrl.replace(/\/+$/, '')}/${route}`;
  try {
    const res = await f(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(req.apiKey ? { authorization: `Bearer ${req.apiKey}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: res.status, text: await res.text() };
  } catch (e) {
    throw new LlmError({ kind: 'connection', message: `cannot reach ${url}: ${(e as Error).message}`, endpoint: req.baseUrl, model: req.name });
  }
}

/** Loads an adapter; "already loaded" counts as success, so a retried activity is idempotent. */
export async function loadLoraAdapter(req: AdapterRequest & { path: string }): Promise<{ alreadyLoaded: boolean }> {
  const r = await post(req, 'load_lora_adapter', { lora_name: req.name, lora_path: req.path });
  if (r.status === 200) return { alreadyLoaded: false };
  if (r.status === 400 && /already (?:been )?loaded/i.test(r.text)) return { alreadyLoaded: true };
  throw new LlmError({
    kind: r.status >= 500 ? 'server_error' : r.status === 404 ? 'not_found' : r.status === 401 ? 'unauthorized' : 'bad_request',
    status: r.status,
    message: `loading LoRA adapter "${req.name}" from ${req.path} on ${req.baseUrl} failed (${r.status}): ${r.text.slice(0, 300)}`,
    endpoint: req.baseUrl,
    model: req.name,
  });
}

/** Unloads an adapter; "not found" counts as success (idempotent). */
export async function unloadLoraAdapter(req: AdapterRequest): Promise<{ wasLoaded: boolean }> {
  const r = await post(req, 'unload_lora_adapter', { lora_name: req.name });
  if (r.status === 200) return { wasLoaded: true };
  if (r.status === 404 || (r.status === 400 && /not (?:be )?found|cannot be found/i.test(r.text))) return { wasLoaded: false };
  throw new LlmError({
    kind: r.status >= 500 ? 'server_error' : r.status === 401 ? 'unauthorized' : 'bad_request',
    status: r.status,
    message: `unloading LoRA adapter "${req.name}" on ${req.baseUrl} failed (${r.status}): ${r.text.slice(0, 300)}`,
    endpoint: req.baseUrl,
    model: req.name,
  });
}
