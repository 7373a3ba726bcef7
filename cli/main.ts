// r4ec: one entry, one error handler, --help on every command.
import { helpText, parse, type Command } from './args';
import { handleError } from '../runtime/handle-error';
import { runWithLifecycle } from '../runtime/lifecycle';
import { runCommand } from './commands/run';
import { upCommand } from './commands/up';
import { workerCommand } from './commands/worker';
import { codecServerCommand } from './commands/codec-server';
import { clusterSetupCommand } from './commands/cluster';
import { dataFetchCommand, dataSynthCommand } from './commands/data';
import { reportCommand } from './commands/report';
import { exportCommand } from './commands/export';
import { rerunCommand } from './commands/rerun';
import { simLlmCommand } from './commands/sim-llm';
import { serveModelCommand } from './commands/serve-model';
import { cancelCommand, statusCommand } from './commands/status';
import { scheduleCreateCommand, scheduleDeleteCommand, scheduleListCommand, schedulePauseCommand, scheduleTriggerCommand } from './commands/schedule';

const COMMANDS: Command[] = [
  upCommand,
  workerCommand,
  runCommand,
  statusCommand,
  reportCommand,
  exportCommand,
  cancelCommand,
  rerunCommand,
  scheduleCreateCommand,
  scheduleListCommand,
  schedulePauseCommand,
  scheduleTriggerCommand,
  scheduleDeleteCommand,
  dataSynthCommand,
  dataFetchCommand,
  simLlmCommand,
  serveModelCommand,
  codecServerCommand,
  clusterSetupCommand,
];

function usage(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'r4ec — R4ec (Reasoning, Reflection and Refinement for recommendation) on Temporal',
    '',
    'usage: r4ec <command> [options]   (r4ec <command> --help for its options)',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}${c.summary}`),
    '',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  // Two-word commands: `data synth`, `schedule create`.
  const cmd = COMMANDS.find((c) => c.name === name) ?? COMMANDS.find((c) => c.name === `${name} ${rest[0]}`);
  if (!cmd) {
    process.stderr.write(`r4ec: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const args = cmd.name.includes(' ') ? rest.slice(1) : rest;
  const json = args.includes('--json');
  return runWithLifecycle(
    async (life) => {
      const parsed = parse(cmd, args);
      if (parsed === 'help') {
        process.stdout.write(helpText(cmd));
        return 0;
      }
      return cmd.run(parsed, life);
    },
    (err) => handleError(err, undefined, { json, ...(cmd.jsonError ? { jsonShape: cmd.jsonError } : {}) }),
  );
}

if (require.main === module || process.argv[1]?.endsWith('r4ec.js') || process.argv[1]?.endsWith('r4ec')) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
    // Everything this command started is stopped by now; a handle left open (a connection the SDK
    // keeps) must not keep the process alive.
    setTimeout(() => process.exit(code), 1000).unref();
  });
}
