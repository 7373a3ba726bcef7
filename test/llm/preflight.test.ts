// The LLM preflight against real servers (the simulator, with and without an API key, and a port
// nobody listens on): each problem is one line naming the role, the endpoint and the fix; roles the
// simulator serves pass without a request; the key never appears in a message.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { EndpointSchema } from '../../config/schema';
import { preflightRoles, LlmPreflightFailed } from '../../core/llm/preflight';
import { startSimulator, type RunningSimulator } from '../../core/sim';

let open: RunningSimulator;
let locked: RunningSimulator;
let closedPort: number;
const KEY = 'sk-right-key-123456';

before(async () => {
  open = await startSimulator({ catalog: [], models: ['r4ec-sim'] });
  locked = await startSimulator({ catalog: [], models: ['gpt-4o-mini'], apiKey: KEY });
  closedPort = await new Promise<number>((r) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => r(p));
    });
  });
});
after(async () => {
  await open?.close();
  await locked?.close();
});

const chats = () => [...open.requestLog, ...locked.requestLog].filter((e) => e.path.includes('/chat/')).length;

const endpoint = (baseUrl: string, model: string, apiKeyEnv?: string) => EndpointSchema.parse({ baseUrl, model, ...(apiKeyEnv ? { apiKeyEnv } : {}) });

test('preflight: a served model with its key passes; simulator roles pass without a request', async () => {
  const r = await preflightRoles({
    roles: [
      { role: 'teacher', endpoint: endpoint(`${locked.url}/v1`, 'gpt-4o-mini', 'R4EC_TEST_KEY') },
      { role: 'actor', endpoint: undefined },
      { role: 'reflection', endpoint: undefined },
    ],
    env: { R4EC_TEST_KEY: KEY },
  });
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.checked.map((c) => ('simulator' in c ? `${c.role}:sim` : c.role)), ['teacher', 'actor:sim', 'reflection:sim']);
  assert.equal(chats(), 0, 'GET /models only: nothing was inferred');
});

test('preflight: unset key, unreachable endpoint, refused key, unknown model: one line each, no key in any line', async () => {
  const r = await preflightRoles({
    roles: [
      { role: 'teacher', endpoint: endpoint(`${locked.url}/v1`, 'gpt-4o-mini', 'R4EC_TEST_UNSET') },
      { role: 'actor', endpoint: endpoint(`http://127.0.0.1:${closedPort}/v1`, 'm') },
      { role: 'reflection', endpoint: endpoint(`${locked.url}/v1`, 'gpt-4o-mini', 'R4EC_TEST_WRONG') },
    ],
    env: { R4EC_TEST_WRONG: 'sk-wrong-key-999999' },
  });
  assert.deepEqual(
    r.problems.map((p) => [p.role, p.kind]),
    [
      ['teacher', 'key_missing'],
      ['actor', 'unreachable'],
      ['reflection', 'unauthorized'],
    ],
  );
  assert.match(r.problems[0]!.message, /R4EC_TEST_UNSET \(llm\.teacher\.apiKeyEnv\) is not set/);
  assert.match(r.problems[1]!.message, new RegExp(`llm\\.actor \\(http://127\\.0\\.0\\.1:${closedPort}/v1, model m\\): cannot reach the endpoint \\(ECONNREFUSED\\)`));
  assert.match(r.problems[2]!.message, /refused the API key \(401\): check the key in R4EC_TEST_WRONG/);
  for (const p of r.problems) assert.ok(!p.message.includes('sk-wrong-key') && !p.message.includes(KEY), p.message);

  const unknown = await preflightRoles({ roles: [{ role: 'teacher', endpoint: endpoint(`${open.url}/v1`, 'gpt-5-turbo-typo') }], env: {} });
  assert.deepEqual(unknown.problems.map((p) => p.kind), ['model_not_served']);
  assert.match(unknown.problems[0]!.message, /model "gpt-5-turbo-typo" is not served there \(it serves: r4ec-sim\): check llm\.teacher\.model/);

  const wrongPath = await preflightRoles({ roles: [{ role: 'teacher', endpoint: endpoint(`${open.url}/api`, 'r4ec-sim') }], env: {} });
  assert.deepEqual(wrongPath.problems.map((p) => p.kind), ['not_found']);

  const e = new LlmPreflightFailed(r.problems);
  assert.equal(e.code, 'LlmPreflightFailed');
  assert.equal(e.retryable, false);
  assert.equal(e.message.split('\n').length, 1 + r.problems.length, 'a header line and one line per problem');
  assert.equal(chats(), 0, 'no inference was sent');
});
