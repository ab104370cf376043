// `warden replay FILE`: option definitions; implementation in cli/replay.ts.
import { Command } from 'commander';

export function replayCommand(): Command {
  return new Command('replay')
    .description('Feed recorded NDJSON events through the rules (tests, benchmarks)')
    .argument('<file>', 'NDJSON events recorded by warden watch (- for stdin)')
    .option('-c, --config <file>', 'watch config (YAML) for agents and rules')
    .option('-o, --output <file>', 'write classified events to FILE (- for stdout)')
    .option('--min-severity <level>', 'only output events at or above info | warn | alert', 'info')
    .option('--stats', 'print throughput and counts to stderr')
    .action(async (file: string, opts) => {
      const { runReplay } = await import('../replay.js');
      process.exitCode = await runReplay(file, opts);
    });
}
