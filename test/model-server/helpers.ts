// A real `r4ec serve-model` process on a free port with the installed SmolLM2 (or a given base), and
// small HTTP helpers. Tests skip with a message when the model is not installed.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Tokenizer } from 'tokenizers';

export const REPO = resolve(__dirname, '..', '..');
export const SMOLLM2 = join(REPO, '.tools', 'smollm2');
export const BASE_NAME = 'SmolLM2-135M-Instruct';

export function skipWithoutModel(): string | false {
  return existsSync(join(SMOLLM2, 'config.json')) ? false : `SmolLM2 is not installed at ${SMOLLM2} (run \`npm run setup\`)`;
}

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  output(): string;
}

/** Starts the CLI command and waits for its "at http://…/v1" line. */
export function serveModel(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [join(REPO, 'bin', 'r4ec.js'), 'serve-model', '--port', '0', ...args], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((ok, fail) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /at (http:\/\/[\d.]+:\d+)\/v1/.exec(out);
      if (m) ok({ child, url: m[1]!, output: () => out });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => fail(new Error(`serve-model exited (${code}) before it was ready:\n${out}`)));
  });
}

export async function post(url: string, path: string, body: unknown): Promise<{ status: number; json: any; text: string }> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

export async function chat(url: string, body: Record<string, unknown>) {
  return post(url, '/v1/chat/completions', { model: BASE_NAME, ...body });
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Child pids of a process (from /proc), e.g. the engine under the CLI. */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The model engine processes among `pid`'s children (its watchdog is a child too: only the python engine counts). */
export function enginePids(pid: number): number[] {
  return childPids(pid).filter((c) => {
    try {
      return readFileSync(`/proc/${c}/cmdline`, 'utf8').includes('trainer.serve');
    } catch {
      return false;
    }
  });
}

export async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

/** SmolLM2's chat template (ChatML) rendered as the model's tokenizer config says, for token counts. */
export function renderChatML(messages: { role: string; content: string }[]): string {
  const template = readFileSync(join(SMOLLM2, 'chat_template.jinja'), 'utf8');
  if (!template.includes("'<|im_start|>' + message['role']")) throw new Error('the installed model no longer uses ChatML; update this helper');
  const head = messages[0]?.role === 'system' ? '' : '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n';
  return head + messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('') + '<|im_start|>assistant\n';
}

let tokenizer: Tokenizer | undefined;
export async function countTokens(text: string): Promise<number> {
  tokenizer ??= Tokenizer.fromFile(join(SMOLLM2, 'tokenizer.json'));
  return (await tokenizer.encode(text, null, { addSpecialTokens: false })).getIds().length;
}
