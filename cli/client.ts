import type { Client } from '@temporalio/client';
import { loadConfig, type LoadedConfig } from '../runtime/config';
import { R4ecError } from '../core/errors';
import { connectClient, dataConverterFor, resolveTemporal } from '../runtime/connection';
import { portOpen } from '../runtime/dev-server';

/** A client for commands that talk to a running Temporal (never starts a server). */
export async function clientFor(configPath: string | undefined): Promise<{ client: Client; loaded: LoadedConfig; close(): Promise<void> }> {
  const loaded = loadConfig({ path: configPath });
  const { config } = loaded;
  const address = config.temporal.address ?? `127.0.0.1:${config.temporal.devServer.port}`;
  if (!config.temporal.address && !(await portOpen(config.temporal.devServer.port))) {
    throw new R4ecError(`no Temporal server at ${address}`, 'temporal_unreachable', {
      suggestion: 'start one with `r4ec up` (or set temporal.address in the config)',
    });
  }
  const client = await connectClient(resolveTemporal(config, address, process.env), dataConverterFor(config, process.env));
  return { client, loaded, close: () => client.connection.close() };
}
