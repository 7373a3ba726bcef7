// Owned children die with their parent, however it ends: SIGKILL of the parent included, their own
// children too (the whole process group); stop() escalates to SIGKILL for a child that ignores SIGTERM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { spawnOwned } from '../../core/util/owned-process';
import { alive, descendants, eventually } from '../cli/procs';

const helper = resolve(__dirname, '..', '..', 'core', 'util', 'owned-process.ts');

test('owned children (and their children) die within seconds of a SIGKILL of their parent', async () => {
  const code = `
    const { spawnOwned } = require(${JSON.stringify(helper)});
    spawnOwned('sleep', ['60']);
    spawnOwned('sh', ['-c', 'sleep 61 & sleep 62 & wait']);
    setTimeout(() => console.log('ready'), 300);
    setInterval(() => {}, 1000);
  `;
  const parent = spawn(process.execPath, ['--import', 'tsx', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((r) => parent.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && r()));
  const kids = descendants(parent.pid!).filter((p) => p.cmd.startsWith('sleep') || p.cmd.startsWith('sh -c sleep'));
  assert.ok(kids.length >= 4, `children: ${kids.map((k) => k.cmd).join(', ')}`);
  parent.kill('SIGKILL');
  for (const k of kids) await eventually(() => !alive(k.pid), 5000, () => `${k.pid} (${k.cmd}) outlived its parent`);
});

test('stop(): SIGTERM, then SIGKILL after the grace for a child that ignores it', async () => {
  const child = spawnOwned('sh', ['-c', "trap '' TERM; sleep 60 & wait; sleep 60"], { stdio: 'ignore' });
  await eventually(() => descendants(child.pid!).length > 0, 3000, () => 'no sleep started');
  const sleeper = descendants(child.pid!)[0]!;
  const started = Date.now();
  await child.stop(500);
  assert.ok(Date.now() - started < 3000);
  assert.equal(child.signalCode, 'SIGKILL');
  await eventually(() => !alive(sleeper.pid), 3000, () => 'its sleep survived');
});
