// Child process for the worker-crash test: runs submitLoraJob in a mock activity context and prints
// every heartbeat as `HB <json>`, until the parent kills it with SIGKILL (the trainer it started lives on).
import { MockActivityEnvironment } from '@temporalio/testing';
import { createFinetuneActivities, type SubmitLoraJobInput } from '../../activities/finetune';
import { LocalStore } from '../../core/store';

const [storeRoot, stateDir, python, inputJson] = process.argv.slice(2) as [string, string, string, string];
const input = JSON.parse(inputJson) as SubmitLoraJobInput;
const acts = createFinetuneActivities({ store: new LocalStore(storeRoot), stateDir, env: process.env, python });
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const env = new MockActivityEnvironment({ attempt: 1 }, { logger: quiet });
env.on('heartbeat', (d: unknown) => process.stdout.write(`HB ${JSON.stringify(d)}\n`));
env.run(acts.submitLoraJob, input).then(
  (r) => process.stdout.write(`DONE ${JSON.stringify(r)}\n`),
  (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  },
);
