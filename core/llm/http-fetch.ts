// The `fetch` the LLM client hands to the openai package: node's http/https with keep-alive agents.
// Node's built-in fetch (undici, web streams) costs about a millisecond of CPU per small request,
// which at hundreds of calls a second is most of a worker's CPU; http.request parses responses in
// C and buffers the small JSON bodies the chat API returns. Anything this does not cover (a
// streamed or form-data request body: the Files API's uploads) goes to the built-in fetch.
import http from 'node:http';
import https from 'node:https';

const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 256 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 256 }),
};

function abortError(signal: AbortSignal): unknown {
  // The openai package recognises an abort (its timeout, or the caller's signal) by this name.
  return signal.reason instanceof Error && signal.reason.name === 'AbortError' ? signal.reason : new DOMException('This operation was aborted', 'AbortError');
}

function headerRecord(h: RequestInit['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  if (h instanceof Headers) h.forEach((v, k) => (out[k] = v));
  else if (Array.isArray(h)) for (const [k, v] of h) out[k!.toLowerCase()] = v!;
  else for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k.toLowerCase()] = String(v);
  return out;
}

const NULL_BODY = new Set([101, 204, 205, 304]);

export const httpFetch: typeof fetch = (input, init) => {
  const body = init?.body;
  const plainBody = body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
  const url = typeof input === 'string' ? new URL(input) : input instanceof URL ? input : undefined;
  if (!plainBody || !url || (url.protocol !== 'http:' && url.protocol !== 'https:')) return fetch(input, init);
  const signal = init?.signal ?? undefined;
  return new Promise<Response>((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const headers = headerRecord(init?.headers);
    if (body !== undefined && body !== null) headers['content-length'] = String(Buffer.byteLength(body));
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, { method: init?.method ?? 'GET', headers, agent: agents[url.protocol as keyof typeof agents] });
    const onAbort = () => {
      req.destroy();
      reject(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err) => {
      signal?.removeEventListener('abort', onAbort);
      reject(new TypeError('fetch failed', { cause: err }));
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => {
        signal?.removeEventListener('abort', onAbort);
        reject(new TypeError('fetch failed', { cause: err }));
      });
      res.on('end', () => {
        signal?.removeEventListener('abort', onAbort);
        const h = new Headers();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
        const status = res.statusCode ?? 0;
        resolve(new Response(NULL_BODY.has(status) ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage ?? '', headers: h }));
      });
    });
    req.end(body ?? undefined);
  });
};
