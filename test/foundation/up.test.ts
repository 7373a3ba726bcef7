import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../../config/names';
import { temporalBinary } from '../../runtime/paths';
import { freePort, waitExit } from '../helpers/processes';

const root = resolve(__dirname, '..', '..');
const stateDir = mkdtempSync(join(tmpdir(), 'r4ec-up-'));
after(() => rmSync(stateDir, { recursive: true, force: true }));

function startUp(port: number, uiPort: number): ChildProcess & { ready: Promise<string> } {
  const child = spawn(process.execPath, [resolve(root, 'bin', 'r4ec.js'), 'up', '--port', String(port), '--ui-port', String(uiPort)], {
    cwd: root,
    env: { ...process.env, R4EC_STATE_DIR: stateDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const ready = new Promise<string>((res, rej) => {
    const on = (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ctrl-C')) res(out);
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (c) => rej(new Error(`r4ec up exited ${c}:\n${out}`)));
  });
  return Object.assign(child, { ready });
}

test('r4ec up: Web UI, the five search attributes (also on an existing database), restart loses nothing', async () => {
  const port = await freePort();
  const uiPort = await freePort();
  // An existing database created without our search attributes.
  const plain = spawn(temporalBinary(), ['server', 'start-dev', '--db-filename', join(stateDir, 'temporal.sqlite'), '--port', String(port), '--ui-port', String(uiPort), '--headless', '--log-level', 'error'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync(temporalBinary(), ['operator', 'namespace', 'describe', '-n', 'default', '--address', `127.0.0.1:${port}`], { stdio: 'ignore' });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  plain.kill('SIGTERM');
  await waitExit(plain);

  const up = startUp(port, uiPort);
  const banner = await up.ready;
  assert.match(banner, new RegExp(`Temporal Web UI: http://localhost:${uiPort}`));
  const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
  assert.equal(ui.status, 200);
  const attrs = execFileSync(temporalBinary(), ['operator', 'search-attribute', 'list', '--address', `127.0.0.1:${port}`, '-o', 'json']).toString();
  for (const sa of SEARCH_ATTRIBUTES) assert.match(attrs, new RegExp(`"${sa}"`), `${sa} registered`);
  // The SQLite file is in WAL mode (header bytes 18 and 19 are 2), also when created without it.
  assert.deepEqual([...readFileSync(join(stateDir, 'temporal.sqlite')).subarray(18, 20)], [2, 2], 'temporal.sqlite in WAL mode');

  // An open workflow survives a stop/start of `r4ec up` (server + workers) and completes.
  const connection = await Connection.connect({ address: `127.0.0.1:${port}` });
  const client = new Client({ connection });
  const handle = await client.workflow.start('smokeWorkflow', { taskQueue: 'r4ec-cpu', workflowId: `up-restart-${Date.now()}`, args: [{ key: 'smoke/up', text: 'kept', workMs: 4000 }] });
  await new Promise((r) => setTimeout(r, 1000));
  up.kill('SIGINT');
  assert.equal(await waitExit(up), 0);
  await connection.close();

  const again = startUp(port, uiPort);
  try {
    await again.ready;
    const connection2 = await Connection.connect({ address: `127.0.0.1:${port}` });
    const result = await new Client({ connection: connection2 }).workflow.getHandle(handle.workflowId).result();
    assert.equal(result.key, 'smoke/up');
    await connection2.close();
  } finally {
    again.kill('SIGINT');
    await waitExit(again);
  }
});
