// `warden doctor`: option definitions; checks are in cli/doctor.ts.
import { Command } from 'commander';

export function doctorCommand(): Command {
  return new Command('doctor')
    .description('Report what this host supports (BPF, bwrap, nft, cgroups, userns) and what to install')
    .option('--json', 'machine-readable output')
    .action(async (opts) => {
      const { runDoctor } = await import('../doctor.js');
      process.exitCode = await runDoctor(opts);
    });
}
