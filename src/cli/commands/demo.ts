// `warden demo`: option definitions; the demonstration itself is in cli/demo/.
import { Command } from 'commander';

export function demoCommand(): Command {
  return new Command('demo')
    .description('Watch a scripted rogue agent get caught by the monitor, then blocked by the sandbox (no network, leaves nothing behind)')
    .option('--fast', 'no pauses (CI, tests)')
    .option('--hold', 'keep the monitor running after the demo, for `warden top`, until Ctrl-C')
    .option('--part <part>', 'watch | run | both', 'both')
    .option('--no-color', 'plain output')
    .addHelpText('after', '\nExit code: 0 when every risky act was detected (Part 1, needs root) and blocked (Part 2), 1 otherwise.')
    .action(async (opts) => {
      const { runDemo } = await import('../demo/run.js');
      process.exitCode = await runDemo(opts);
    });
}
