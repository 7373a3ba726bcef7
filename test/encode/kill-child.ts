// Child process for the resume test: runs the encodeShards activity in a mock activity context and
// prints every heartbeat as a line `HB <json>`, until the parent kills it with SIGKILL.
import { MockActivityEnvironment } from '@temporalio/testing';
import { createEncodeActivities, type EncodeShardsInput } from '../../activities/encode';
import { LocalStore } from '../../core/store';

const [storeRoot, stateDir, inputJson] = process.argv.slice(2) as [string, string, string];
const input = JSON.parse(inputJson) as EncodeShardsInput;
const acts = createEncodeActivities({ store: new LocalStore(storeRoot), stateDir, env: process.env });
const env = new MockActivityEnvironment({ attempt: 1 });
env.on('heartbeat', (d: unknown) => process.stdout.write(`HB ${JSON.stringify(d)}\n`));
env.run(() => acts.encodeShards(input)).then(
  (r) => process.stdout.write(`DONE ${JSON.stringify(r)}\n`),
  (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  },
);
