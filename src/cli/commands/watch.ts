// `warden watch`: option definitions; the monitor itself is in cli/watch.ts.
import { Command } from 'commander';

export function watchCommand(): Command {
  return new Command('watch')
    .description('Monitor AI agents and their process trees until SIGINT/SIGTERM')
    .option('-c, --config <file>', 'watch config (YAML)')
    .option('-o, --output <file>', 'NDJSON event file, or - for stdout (default: XDG state dir)')
    .option('--backend <name>', 'sensor backend: auto | ebpf | bpftrace | procfs')
    .option('--quiet', 'no status lines on stderr')
    .action(async (opts) => {
      const { runWatch } = await import('../watch.js');
      process.exitCode = await runWatch(opts);
    });
}
