// Endpoint URLs in the config: http(s) with a host, or a clear path: message with a fix.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { R4ecConfigSchema } from '../../config/schema';

function problems(cfg: unknown): string[] {
  const r = R4ecConfigSchema.safeParse(cfg);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

const endpoint = (baseUrl: string) => ({ baseUrl, model: 'm' });

test('endpoint URLs must be http(s) with a host: each bad one is named by path with a suggestion', () => {
  const bad: [string, RegExp][] = [
    ['localhost:8000/v1', /"http:\/\/localhost:8000\/v1"/],
    ['ftp://x/v1', /http:\/\/ or https:\/\//],
    ['http:///v1', /host/],
    ['not a url', /http/],
    ['file:///tmp/x', /http:\/\/ or https:\/\//],
  ];
  for (const [url, hint] of bad) {
    for (const role of ['teacher', 'actor', 'reflection'] as const) {
      const p = problems({ llm: { [role]: endpoint(url) } });
      assert.equal(p.length, 1, `${role} ${url}: ${p.join('; ')}`);
      assert.ok(p[0]!.startsWith(`llm.${role}.baseUrl: `), p[0]);
      assert.match(p[0]!, /an http\(s\) URL with a host/, p[0]);
      assert.match(p[0]!, hint, p[0]);
      assert.ok(p[0]!.includes(JSON.stringify(url)), `the bad value is shown: ${p[0]}`);
    }
  }
  // The other URL keys follow the same rule.
  assert.match(problems({ finetune: { openai: { baseUrl: 'localhost:8000/v1' } } })[0] ?? '', /^finetune\.openai\.baseUrl: .*"http:\/\/localhost:8000\/v1"/);
  assert.match(problems({ store: { kind: 's3', bucket: 'b', endpoint: 'minio:9000' } })[0] ?? '', /^store\.endpoint: .*"http:\/\/minio:9000"/);
});

test('good endpoint URLs pass unchanged', () => {
  for (const url of ['http://localhost:8000/v1', 'https://api.openai.com/v1', 'http://127.0.0.1:9/v1', 'http://[::1]:8000/v1', 'HTTPS://Example.com']) {
    const r = R4ecConfigSchema.safeParse({ llm: { teacher: endpoint(url) }, finetune: { openai: { baseUrl: url } }, store: { kind: 's3', bucket: 'b', endpoint: url } });
    assert.ok(r.success, `${url}: ${r.success ? '' : r.error.issues.map((i) => i.message).join('; ')}`);
    assert.equal(r.data.llm.teacher?.baseUrl, url);
  }
});
