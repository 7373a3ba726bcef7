// Fault-injection points: named places in the finishing steps of stages where a test kills the
// worker process (SIGKILL, as a crash or an OOM kill would) at exactly that moment instead of racing
// a sleep. Unarmed, a point costs one environment lookup and does nothing.
//
//   R4EC_FAULT_POINTS=construct.assemble.after-commit,encode.assemble.cleanup   points to arm
//   R4EC_FAULT_DIR=/tmp/faults                                                 each point fires once
//
// With R4EC_FAULT_DIR set, a point writes `<dir>/<name>` before it kills and never fires again while
// that file exists, so the restarted worker (same environment) runs through it; without it, the point
// fires every time it is reached.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Every point in the code, so a test (or a typo in the environment) can be checked against them. */
export const FAULT_POINTS = [
  'construct.assemble.after-commit',
  'construct.assemble.cleanup',
  'refine.assemble.after-commit',
  'refine.combine.after-commit',
  'encode.assemble.after-commit',
  'encode.assemble.cleanup',
  'finetune.commit.after-commit',
  'train.collect.after-commit',
  'report.write.after-commit',
] as const;
/**
 * Points in a call to an outside provider, apart from the finishing steps above (a pipeline test
 * arms all of those at once): `teacher-batch.submit.after-create` kills the worker right after the
 * Batch API accepted a create, before the caller could record or return the batch.
 */
export const PROVIDER_FAULT_POINTS = ['teacher-batch.submit.after-create'] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number] | (typeof PROVIDER_FAULT_POINTS)[number];

export function armedFaultPoints(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.R4EC_FAULT_POINTS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Kills this process with SIGKILL when `name` is armed (and has not fired yet under R4EC_FAULT_DIR). */
export function faultPoint(name: FaultPoint, env: NodeJS.ProcessEnv = process.env): void {
  if (!env.R4EC_FAULT_POINTS || !armedFaultPoints(env).includes(name)) return;
  const dir = env.R4EC_FAULT_DIR;
  if (dir) {
    mkdirSync(dir, { recursive: true });
    let fd: number;
    try {
      // 'wx': exactly one process fires a point, even with several workers racing to it.
      fd = openSync(join(dir, name), 'wx');
    } catch {
      return;
    }
    writeSync(fd, JSON.stringify({ point: name, pid: process.pid, at: new Date().toISOString() }) + '\n');
    closeSync(fd);
  }
  process.kill(process.pid, 'SIGKILL');
}
