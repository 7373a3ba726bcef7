// Fault points: unarmed they do nothing; armed they SIGKILL the process at that line, once per
// R4EC_FAULT_DIR, so the restarted process (same environment) runs through.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { FAULT_POINTS } from '../../core/fault';

const root = resolve(__dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'r4ec-fault-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(env: Record<string, string>) {
  const script = "const { faultPoint } = require('./core/fault'); faultPoint('construct.assemble.after-commit'); console.log('ran through');";
  return spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8' });
}

test('a fault point kills only when armed, and once per fault directory', () => {
  assert.equal(run({}).stdout.trim(), 'ran through', 'unarmed: nothing happens');
  assert.equal(run({ R4EC_FAULT_POINTS: 'encode.assemble.cleanup' }).stdout.trim(), 'ran through', 'another point armed');
  const killed = run({ R4EC_FAULT_POINTS: 'encode.assemble.cleanup, construct.assemble.after-commit', R4EC_FAULT_DIR: dir });
  assert.equal(killed.signal, 'SIGKILL');
  assert.equal(killed.stdout, '');
  const marker = JSON.parse(readFileSync(join(dir, 'construct.assemble.after-commit'), 'utf8')) as { point: string; pid: number };
  assert.equal(marker.point, 'construct.assemble.after-commit');
  const again = run({ R4EC_FAULT_POINTS: 'construct.assemble.after-commit', R4EC_FAULT_DIR: dir });
  assert.equal(again.stdout.trim(), 'ran through', 'fired once: the restarted process runs through');
  assert.ok(!existsSync(join(dir, 'encode.assemble.cleanup')));
  assert.equal(new Set(FAULT_POINTS).size, FAULT_POINTS.length);
});
