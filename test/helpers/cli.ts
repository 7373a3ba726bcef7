// The `r4ec` command as a user runs it: a real process of bin/r4ec.js, its exit code and output.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const root = resolve(__dirname, '..', '..');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall time of the process, ms. */
  ms: number;
}

/** Runs `r4ec …args` in `cwd` with `env` added; killed (code null) after `timeoutMs`. */
export function r4ec(args: string[], opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<CliResult> {
  return new Promise((res) => {
    const started = Date.now();
    const child = spawn(process.execPath, [resolve(root, 'bin', 'r4ec.js'), ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}
