// Bookkeeping activities on the cpu queue, and the smoke activity that proves
// workflow → activity → store on a real server (and survives a killed worker).
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { z } from 'zod';
import { StageOutput } from '../core/store';
import type { ActivityDeps } from './deps';
import { parseInput } from './validate';

const SmokeInput = z.object({
  key: z.string().min(1),
  text: z.string(),
  /** Work time before the write, heartbeating: gives a test the window to kill the worker. */
  workMs: z.number().int().min(0).max(600_000).default(0),
});
export type SmokeInput = z.input<typeof SmokeInput>;
export interface SmokeOutput {
  key: string;
  contentHash: string;
  reused: boolean;
}

export function createStoreActivities(deps: ActivityDeps) {
  return {
    async writeSmokeArtifact(raw: SmokeInput): Promise<SmokeOutput> {
      const input = parseInput(SmokeInput, raw, 'writeSmokeArtifact');
      const out = new StageOutput(deps.store, input.key);
      if (await out.isComplete()) return { key: input.key, contentHash: await out.contentHash(), reused: true };
      const ctx = Context.current();
      const start = Number(ctx.info.heartbeatDetails ?? 0);
      for (let t = start; t < input.workMs; t += 100) {
        ctx.heartbeat(t);
        await ctx.sleep(100);
      }
      await out.put('text.txt', input.text);
      const contentHash = await out.commit('smoke', { attempt: ctx.info.attempt });
      // One line per completed write: a test counts them to prove "exactly once".
      await mkdir(join(deps.stateDir, 'logs'), { recursive: true });
      await appendFile(join(deps.stateDir, 'logs', 'smoke-writes.jsonl'), JSON.stringify({ key: input.key, attempt: ctx.info.attempt }) + '\n');
      return { key: input.key, contentHash, reused: false };
    },
  };
}
