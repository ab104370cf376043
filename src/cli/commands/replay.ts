// `warden replay FILE`: option definitions; implementation in cli/replay.ts.
import { Command, Option } from 'commander';

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function replayCommand(): Command {
  return new Command('replay')
    .description('Feed recorded NDJSON events through the rules (tests, benchmarks)')
    .argument('<file>', 'NDJSON events recorded by warden watch (- for stdin)')
    .option('-c, --config <file>', 'watch config (YAML): rules.files, rules.disable, network.allow')
    .option('-r, --rules <file>', 'extra rule file or directory, after the defaults (repeatable)', collect)
    .option('--no-defaults', 'do not load the default ruleset')
    .option('-o, --output <file>', 'write classified events to FILE (- for stdout; default stdout unless --stats)')
    .addOption(new Option('--min-severity <level>', 'only output events at or above this (default: config rules.min_severity or info)').choices(['info', 'warn', 'alert']))
    .option('--stats', 'print counts, throughput and peak memory to stderr (no event output unless -o)')
    // Alone it did nothing (events went to stdout as without it): it asks for the statistics.
    .addOption(new Option('--json', 'print the statistics as one JSON object (implies --stats)').implies({ stats: true }))
    .option('--strict', 'parse and validate every line (by default lines no rule can match are only counted)')
    .action(async (file: string, opts) => {
      const { runReplay } = await import('../replay.js');
      process.exitCode = await runReplay(file, opts);
    });
}
