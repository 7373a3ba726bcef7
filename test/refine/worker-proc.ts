// A worker process for the kill test: cpu + llm workers on the queues named in the config, the LLM
// registry pointed at the test's simulator, store and LLM cache under the shared state dir.
// Env: R4EC_TEST_ADDRESS, R4EC_TEST_STATE_DIR, R4EC_TEST_CONFIG (JSON of an R4ecConfig).
import { NativeConnection } from '@temporalio/worker';
import { R4ecConfigSchema } from '../../config/schema';
import { LlmRegistry } from '../../core/llm/registry';
import { openStore } from '../../core/store';
import { createWorkers, installRuntime } from '../../workers/bootstrap';

async function main(): Promise<void> {
  installRuntime(undefined);
  const config = R4ecConfigSchema.parse(JSON.parse(process.env.R4EC_TEST_CONFIG!));
  const stateDir = process.env.R4EC_TEST_STATE_DIR!;
  const connection = await NativeConnection.connect({ address: process.env.R4EC_TEST_ADDRESS! });
  const llm = new LlmRegistry({ llm: config.llm, stateDir, env: {} });
  const workers = await createWorkers({
    connection,
    namespace: 'default',
    config,
    queues: ['cpu', 'llm'],
    deps: { store: openStore(config.store, stateDir), stateDir, env: {}, llm } as never,
  });
  console.log('ready');
  await Promise.all(workers.map((w) => w.run()));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
