import { loadConfig } from '../../runtime/config';
import { describeClusterResult, operatorConnection, setupCluster } from '../../runtime/cluster-setup';
import { str, type Command } from '../args';

export const clusterSetupCommand: Command = {
  name: 'cluster setup',
  summary: "register r4ec's search attributes on the configured Temporal namespace (idempotent)",
  usage: 'r4ec cluster setup [--config FILE] [--check] [--json]',
  options: {
    config: { type: 'string', description: 'config file (temporal address, namespace, TLS or API key)' },
    check: { type: 'boolean', description: 'only report what is missing (exit 1 when something is); change nothing' },
    json: { type: 'boolean', description: 'machine-readable result on stdout' },
  },
  details:
    'Checks that the namespace exists and adds the Keyword search attributes R4ecRunId, R4ecStage, R4ecDomain,\n' +
    'R4ecEntityId and R4ecOutcome through the operator service (needs namespace-admin permission; on Temporal\n' +
    'Cloud an API key with that role). A second run changes nothing. `r4ec worker` runs the same at start.',
  async run({ values }) {
    const { config } = loadConfig({ path: str(values.config) });
    const address = config.temporal.address ?? `127.0.0.1:${config.temporal.devServer.port}`;
    const connection = await operatorConnection(config, address, process.env);
    try {
      const check = values.check === true;
      const r = await setupCluster(connection, address, config.temporal.namespace, { check });
      if (values.json) process.stdout.write(JSON.stringify(r) + '\n');
      else process.stdout.write(`${describeClusterResult(r, check)}\n`);
      return check && r.missing.length > 0 ? 1 : 0;
    } finally {
      await connection.close();
    }
  },
};
