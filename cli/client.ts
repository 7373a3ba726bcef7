import type { Client } from '@temporalio/client';
import { loadConfig, type LoadedConfig } from '../runtime/config';
import { connectClient, dataConverterFor, resolveTemporal } from '../runtime/connection';
import { checkDevServer } from '../runtime/dev-server';
import type { Lifecycle } from '../runtime/lifecycle';
import { stateDirFrom } from '../runtime/paths';

/**
 * A client for commands that talk to a running Temporal (never starts a server): `temporal.address`,
 * or this state dir's dev server (a server of another state dir is refused, as `run` refuses it).
 * With `life`, the connection closes when the command ends and a payload the codec key cannot
 * decode ends the command with that error.
 */
export async function clientFor(configPath: string | undefined, life?: Lifecycle): Promise<{ client: Client; loaded: LoadedConfig; close(): Promise<void> }> {
  const loaded = loadConfig({ path: configPath });
  const { config } = loaded;
  const dataConverter = dataConverterFor(config, process.env, life ? { onKeyError: (err) => life.fail(err) } : {});
  const address =
    config.temporal.address ??
    (await checkDevServer({ stateDir: stateDirFrom(process.env, config.stateDir), port: config.temporal.devServer.port, uiPort: config.temporal.devServer.uiPort }));
  const client = await connectClient(resolveTemporal(config, address, process.env), dataConverter);
  let closed: Promise<void> | undefined;
  const close = () => (closed ??= client.connection.close());
  // After a signal, calls may be in flight: the connection goes with the process (closing it under
  // them makes the SDK's retry timer throw).
  life?.defer('the Temporal client', async () => {
    if (!life.signal.aborted) await close();
  });
  return { client, loaded, close };
}
