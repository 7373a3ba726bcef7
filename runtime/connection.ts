// Connections to Temporal for workers (NativeConnection) and clients (Connection), from config:
// address/namespace/TLS/API key. The API key is read from the env var named in config.
import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';
import type { R4ecConfig } from '../config/schema';
import { R4ecError } from '../core/errors';
import { codecFromEnv, NoKeyCodec, type CodecKeyError } from './codec';

export interface ResolvedTemporal {
  address: string;
  namespace: string;
  tls?: { clientCertPair?: { crt: Buffer; key: Buffer }; serverRootCACertificate?: Buffer; serverNameOverride?: string } | true;
  apiKey?: string;
}

export function resolveTemporal(config: R4ecConfig, address: string, env: NodeJS.ProcessEnv): ResolvedTemporal {
  const t = config.temporal;
  const out: ResolvedTemporal = { address, namespace: t.namespace };
  if (t.tls) {
    const read = (p: string, what: string) => {
      try {
        return readFileSync(p);
      } catch (err) {
        throw new R4ecError(`temporal.tls.${what}: cannot read ${p}: ${(err as Error).message}`, 'config_tls_file', {
          suggestion: 'check the path in your config (relative paths are relative to the working directory)',
        });
      }
    };
    out.tls = {
      clientCertPair: { crt: read(t.tls.certPath, 'certPath'), key: read(t.tls.keyPath, 'keyPath') },
      ...(t.tls.caPath ? { serverRootCACertificate: read(t.tls.caPath, 'caPath') } : {}),
      ...(t.tls.serverName ? { serverNameOverride: t.tls.serverName } : {}),
    };
  }
  if (t.apiKeyEnv) {
    const key = env[t.apiKeyEnv];
    if (!key) throw new R4ecError(`temporal.apiKeyEnv names $${t.apiKeyEnv}, which is not set`, 'temporal_api_key_missing', { suggestion: `export ${t.apiKeyEnv}=<your Temporal Cloud API key>` });
    out.apiKey = key;
    out.tls ??= true;
  }
  return out;
}

/**
 * The payload codec from config and env. `onKeyError` hears of every payload this process cannot
 * decode (a key that is not the one the run was written with): a worker stops on it rather than fail
 * the same task again and again.
 */
export function dataConverterFor(config: R4ecConfig, env: NodeJS.ProcessEnv, opts: { onKeyError?: (err: CodecKeyError) => void } = {}): DataConverter {
  const codec = codecFromEnv(config.codec, env, opts) ?? new NoKeyCodec(opts);
  return { payloadCodecs: [codec] };
}

export async function connectClient(t: ResolvedTemporal, dataConverter?: DataConverter): Promise<Client> {
  const connection = await Connection.connect({
    address: t.address,
    ...(t.tls ? { tls: t.tls === true ? true : t.tls } : {}),
    ...(t.apiKey ? { apiKey: t.apiKey } : {}),
  });
  return new Client({ connection, namespace: t.namespace, ...(dataConverter ? { dataConverter } : {}) });
}

export async function connectWorker(t: ResolvedTemporal): Promise<NativeConnection> {
  return NativeConnection.connect({
    address: t.address,
    ...(t.tls ? { tls: t.tls === true ? true : t.tls } : {}),
    ...(t.apiKey ? { apiKey: t.apiKey } : {}),
  });
}
