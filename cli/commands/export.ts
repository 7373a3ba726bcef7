// `r4ec export`: what a serving team picks up — knowledge texts and vectors per entity, the ONNX
// models, and a manifest (run id, config, data hash, code version, metrics).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { R4ecError } from '../../core/errors';
import { openStore } from '../../core/store';
import { REPO_ROOT, stateDirFrom } from '../../runtime/paths';
import { str, type Command } from '../args';
import { runSummaryOf } from './report';

const WANTED: Record<string, RegExp> = {
  refine: /\.(jsonl|json)$/,
  encode: /\.(npy|json)$/,
  train: /(model\.onnx|model\.json|metrics\.json|results\.json)$/,
  report: /\.(html|json)$/,
};

function codeVersion(): string {
  const pkg = require(join(REPO_ROOT, 'package.json')) as { version: string };
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return `${pkg.version}+${rev}`;
  } catch {
    return pkg.version;
  }
}

export const exportCommand: Command = {
  name: 'export',
  summary: 'export a run for serving: knowledge texts + vectors per entity, ONNX models, manifest',
  usage: 'r4ec export --run ID --to DIR [--config FILE]',
  options: {
    run: { type: 'string', description: 'run id' },
    to: { type: 'string', description: 'output directory' },
    config: { type: 'string', description: 'config file (connection, store)' },
  },
  async run({ values }) {
    const runId = str(values.run);
    const to = str(values.to);
    if (!runId || !to) throw new R4ecError('--run ID and --to DIR are required', 'bad_arguments', { exitCode: 2 });
    const { summary, config } = await runSummaryOf(str(values.config), runId);
    const store = openStore(config.store, stateDirFrom(process.env, config.stateDir));
    const dir = resolve(to);
    const files: string[] = [];
    for (const [name, art] of Object.entries(summary.artifacts)) {
      const stage = name.split(':')[0]!;
      const pattern = WANTED[stage];
      if (!art || !pattern) continue;
      for (const key of await store.list(`${art.key}/`)) {
        if (!pattern.test(key) || key.endsWith('_manifest.json')) continue;
        const rel = join(name.replace(':', '-'), key.slice(art.key.length + 1));
        mkdirSync(dirname(join(dir, rel)), { recursive: true });
        copyFileSync(await store.localPath(key), join(dir, rel));
        files.push(rel);
      }
    }
    if (files.length === 0) throw new R4ecError(`run ${runId} has nothing to export yet`, 'nothing_to_export', { suggestion: 'export after refine/encode/train have run' });
    const configKey = (await store.list(`runs/${encodeURIComponent(runId)}/`)).find((k) => k.includes(`config-${summary.configHash?.slice(0, 16)}`));
    const manifest = {
      runId,
      exportedAt: new Date().toISOString(),
      codeVersion: codeVersion(),
      configHash: summary.configHash,
      config: configKey ? JSON.parse((await store.get(configKey)).toString()) : undefined,
      dataHash: summary.artifacts.ingest?.contentHash,
      artifacts: summary.artifacts,
      metrics: { ingest: summary.ingest, train: summary.train, construct: summary.construct, refine: summary.refine, llm: summary.llm },
      files,
    };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 1));
    process.stdout.write(`${join(dir, 'manifest.json')} (${files.length} files)\n`);
    return 0;
  },
};
