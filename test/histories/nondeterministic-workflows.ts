// A deliberately changed smokeWorkflow: it schedules a different activity than the recorded
// history, so replay must fail with a DeterminismViolationError (the negative replay test).
import { proxyActivities, sleep } from '@temporalio/workflow';

const { writeSmokeArtifactV2 } = proxyActivities<{ writeSmokeArtifactV2(i: unknown): Promise<{ key: string; contentHash: string; reused: boolean }> }>({
  startToCloseTimeout: '1 minute',
});

export async function smokeWorkflow(input: { key: string; text: string }): Promise<{ key: string; contentHash: string; reused: boolean }> {
  await sleep('1 second');
  return writeSmokeArtifactV2(input);
}
