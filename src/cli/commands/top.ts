// `warden top`: option definitions; the dashboard is in cli/top/ (ink, loaded only here).
import { Command } from 'commander';

export function topCommand(): Command {
  return new Command('top')
    .description('Live terminal dashboard of a running monitor: agent sessions, events, alerts with their process chain, egress')
    .option('--socket <path>', 'monitor API socket (default: $XDG_RUNTIME_DIR/warden/warden.sock, /run/warden/warden.sock for root)')
    .option('-s, --severity <level>', 'start with this minimum severity: info | warn | alert')
    .option('-a, --agent <name|session>', 'start with only this agent (name, session id or root pid)')
    .option('-k, --kind <kind>', 'start with only this kind or family (file, net, process.exec, ...)')
    .option('--search <text>', 'start with this text filter')
    .option('--replay <n>', 'recent events to load when connecting (default 2000, at most 10000)')
    .addHelpText(
      'after',
      '\nKeys: ? help · ↑↓ select · Enter detail (process chain) · s severity · a agent · k kind · / search · c clear · e egress · A acknowledge · q quit',
    )
    .action(async (opts) => {
      // ink renders nothing but the last frame when CI=… is set (is-in-ci, read at import).
      // A dashboard on a real terminal is interactive whatever the environment says, so
      // the variables are dropped before ink loads; without a terminal they stay.
      if (process.stdout.isTTY) {
        delete process.env.CI;
        delete process.env.CONTINUOUS_INTEGRATION;
      }
      const { runTop } = await import('../top/run.js');
      process.exitCode = await runTop(opts);
    });
}
