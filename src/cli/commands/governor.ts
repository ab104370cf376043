// `warden resume SESSION` and `warden governor [list|freeze|kill|limit]`: the governor's user
// actions on a running monitor, through its API (the same calls `warden top` makes).
import { Command } from 'commander';

const socketOpt = ['--socket <path>', 'monitor API socket (default: $XDG_RUNTIME_DIR/warden/warden.sock, /run/warden/warden.sock for root)'] as const;

export function resumeCommand(): Command {
  return new Command('resume')
    .description('Resume a frozen agent session (or one of its tools with --pid) of the running monitor')
    .argument('<session>', 'session id (see warden governor list)')
    .option('--pid <pid>', 'only this runaway tool of the session')
    .option(...socketOpt)
    .action(async (session: string, opts) => {
      const { governorCall } = await import('../governor-cli.js');
      process.exitCode = await governorCall('session.resume', { session, ...pidOpt(opts.pid) }, opts.socket);
    });
}

export function governorCommand(): Command {
  const g = new Command('governor').description("The governor of the running monitor: each session's memory, CPU and pids against its limits; freeze, kill, raise a limit");
  g.command('list')
    .description('Governed sessions, their usage, limits and runaway tools')
    .option('--json', 'JSON instead of a table')
    .option(...socketOpt)
    .action(async (opts) => {
      const { governorList } = await import('../governor-cli.js');
      process.exitCode = await governorList(opts);
    });
  for (const [name, method, what] of [
    ['freeze', 'session.freeze', 'Freeze a session (its processes stop until warden resume)'],
    ['kill', 'session.kill', 'Kill a session (every process of its cgroup), or one tool with --pid'],
  ] as const)
    g.command(name)
      .description(what)
      .argument('<session>', 'session id')
      .option('--pid <pid>', 'only this runaway tool of the session')
      .option(...socketOpt)
      .action(async (session: string, opts) => {
        const { governorCall } = await import('../governor-cli.js');
        process.exitCode = await governorCall(method, { session, ...pidOpt(opts.pid) }, opts.socket);
      });
  g.command('limit')
    .description('Raise (or lower) the memory limits of a session; a tool paused at the limit resumes')
    .argument('<session>', 'session id')
    .option('--high <size>', 'soft limit (e.g. 3GB)')
    .option('--max <size>', 'hard limit (e.g. 4GB)')
    .option(...socketOpt)
    .action(async (session: string, opts) => {
      const { governorLimit } = await import('../governor-cli.js');
      process.exitCode = await governorLimit(session, opts);
    });
  return g;
}

function pidOpt(v: string | undefined): { pid?: number } {
  if (v === undefined) return {};
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) {
    process.stderr.write(`warden: --pid ${v}: expected a process id\n`);
    process.exit(2);
  }
  return { pid: n };
}
