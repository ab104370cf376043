// `warden events`: option definitions; the query itself is in cli/events.ts.
import { Command } from 'commander';

export function eventsCommand(): Command {
  return new Command('events')
    .description('Query the audit log (rotated and compressed files included), optionally following it')
    .option('-f, --file <path>', 'audit log (default: output.file of --config, else the XDG state dir)')
    .option('-c, --config <file>', 'watch config whose output.file to read')
    .option('--since <time>', 'from this time: 10m, 2h, 3d, or an ISO date')
    .option('--until <time>', 'up to this time (exclusive)')
    .option('-s, --severity <level>', 'minimum severity: info | warn | alert')
    .option('--agent <name>', 'agent name, session id or root pid (* wildcards)')
    .option('--rule <id>', 'rule id (* wildcards)')
    .option('--kind <kind>', 'event kind; `file` means file.* (* wildcards)')
    .option('-n, --last <count>', 'only the last COUNT matching events')
    .option('--json', 'one JSON event per line instead of a table')
    .option('-F, --follow', 'keep printing new events (follows rotation) until interrupted')
    .action(async (opts) => {
      const { runEvents } = await import('../events.js');
      process.exitCode = await runEvents(opts);
    });
}
