// `r4ec codec-server`: the Web UI / CLI decode encrypted payloads through this (Temporal's remote
// codec protocol: POST /encode and /decode with {payloads:[…]} as JSON, CORS for the UI's origin).
import { createServer } from 'node:http';
import type { Payload } from '@temporalio/common';
import { loadConfig } from '../../runtime/config';
import { R4ecError } from '../../core/errors';
import { codecFromEnv } from '../../runtime/codec';
import { str, type Command } from '../args';

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v as Uint8Array).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

export const codecServerCommand: Command = {
  name: 'codec-server',
  summary: 'serve the payload codec so the Web UI and `temporal` CLI can show encrypted payloads',
  usage: 'r4ec codec-server [--config FILE] [--port 8888] [--ui-origin http://localhost:8233]',
  options: {
    config: { type: 'string', description: 'config file (codec.keyEnv names the key variable)' },
    port: { type: 'string', description: 'listen port (default: codec.serverPort, 8888)' },
    'ui-origin': { type: 'string', description: 'Web UI origin allowed by CORS (default http://localhost:8233)' },
  },
  details: 'Web UI: Settings → Codec Server → http://localhost:8888.  CLI: temporal workflow show -w ID --codec-endpoint http://localhost:8888',
  async run({ values }, life) {
    life.signalIsStop = true;
    const { config } = loadConfig({ path: str(values.config) });
    const codec = codecFromEnv({ ...config.codec, enabled: true }, process.env);
    if (!codec) throw new R4ecError('codec not configured', 'codec_key_missing');
    const port = Number(str(values.port) ?? config.codec.serverPort);
    const origin = str(values['ui-origin']) ?? `http://localhost:${config.temporal.devServer.uiPort}`;
    const server = createServer((req, res) => {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace');
      if (req.method === 'OPTIONS') return void res.end();
      const op = req.url === '/encode' ? 'encode' : req.url === '/decode' ? 'decode' : undefined;
      if (req.method !== 'POST' || !op) {
        res.statusCode = 404;
        return void res.end();
      }
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        void (async () => {
          try {
            const { payloads } = JSON.parse(body) as { payloads: JsonPayload[] };
            const out = await codec[op](payloads.map(fromJson));
            res.setHeader('Content-Type', 'application/json');
            res.end(JSON.stringify({ payloads: out.map(toJson) }));
          } catch (err) {
            res.statusCode = 400;
            res.end(JSON.stringify({ error: (err as Error).message }));
          }
        })();
      });
    });
    await new Promise<void>((r, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', r);
    });
    life.defer('the codec server', () => new Promise<void>((r) => server.close(() => r())));
    process.stderr.write(`codec server on http://127.0.0.1:${port} (CORS origin ${origin})\n`);
    await life.aborted;
    return 0;
  },
};
