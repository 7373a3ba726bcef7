// The current workflows with two deliberate changes that are not versioned with patched(), bundled
// by the replay test to show that replay catches them:
// - r4ecPipelineWorkflow starts a timer before its first activity (a command where the history has
//   an activity);
// - refineEntityWorkflow calls one more activity after its work (a command where the history has
//   the workflow's completion).
// Every other workflow is the current code and must still replay.
import { proxyActivities, sleep } from '@temporalio/workflow';
import type { createStoreActivities } from '../../activities/store';
import { r4ecPipelineWorkflow as currentPipeline, refineEntityWorkflow as currentRefineEntity } from '../../workflows';

export * from '../../workflows';

const { writeSmokeArtifact } = proxyActivities<ReturnType<typeof createStoreActivities>>({ startToCloseTimeout: '1 minute' });

export async function r4ecPipelineWorkflow(...args: Parameters<typeof currentPipeline>): ReturnType<typeof currentPipeline> {
  await sleep('1 second');
  return currentPipeline(...args);
}

export async function refineEntityWorkflow(...args: Parameters<typeof currentRefineEntity>): ReturnType<typeof currentRefineEntity> {
  const out = await currentRefineEntity(...args);
  await writeSmokeArtifact({ key: 'changed/extra', text: 'an activity the recorded run never scheduled', workMs: 0 });
  return out;
}
