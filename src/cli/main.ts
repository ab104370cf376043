// The `warden` command. Each subcommand's options live in cli/commands/<name>.ts and its
// implementation is imported only when it runs, so `warden run` starts fast.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/load.js';
import { PlainError } from '../util/errors.js';
import { commands } from './commands/index.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('warden')
    .description('Runtime security monitor and sandbox for AI coding agents')
    .version(process.env.npm_package_version ?? '0.1.0')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const c of commands) program.addCommand(c().exitOverride());
  // `warden nosuch --help` printed the general help and exit 0: an unknown command is an error
  // whatever options follow it.
  const first = argv.slice(2).find((a) => !a.startsWith('-'));
  const known = new Set(program.commands.flatMap((c) => [c.name(), ...c.aliases()]).concat('help'));
  if (first !== undefined && argv.slice(2).indexOf(first) === 0 && !known.has(first)) {
    process.stderr.write(`warden: unknown command '${first}' (commands: ${[...known].filter((k) => k !== 'help').join(', ')}; run warden --help)\n`);
    return 2;
  }
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    return exitCodeFor(err);
  }
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
      return 0;
    return 2;
  }
  if (err instanceof ConfigError) {
    process.stderr.write(`warden: config error: ${err.message}\n`);
    return 2;
  }
  if (err instanceof PlainError) {
    process.stderr.write(`warden: ${err.message}\n`);
    return 1;
  }
  if (err instanceof UsageError) {
    process.stderr.write(`warden: ${err.message}\n`);
    return 2;
  }
  process.stderr.write(`warden: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 1;
}

/** A bad invocation detected after parsing (exit 2). */
export class UsageError extends Error {}

// Runs itself only as the process entry (`node dist/cli/main.js ...`). bin/warden goes through
// cli/entry.ts, which calls main() itself: modules that import UsageError from here must not
// start a second CLI run when `warden run` loads them late (e.g. --monitor).
function isEntry(): boolean {
  if (!process.argv[1]) return false;
  try {
    return fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}
if (isEntry()) {
  main(process.argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.exitCode = exitCodeFor(err);
    },
  );
}
