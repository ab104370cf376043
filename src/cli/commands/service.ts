// `warden service install|uninstall`: option definitions; implementation in cli/service.ts.
import { Command } from 'commander';

export function serviceCommand(): Command {
  const cmd = new Command('service').description('Install or remove a systemd unit that runs `warden watch` (system or --user)');
  const common = (c: Command) =>
    c
      .option('--user', 'a user unit (~/.config/systemd/user) instead of a system unit')
      .option('--dir <dir>', 'write/remove the unit file in DIR only, without calling systemctl (packaging, other hosts)');
  cmd.addCommand(
    common(new Command('install'))
      .description('Write warden.service, reload systemd, enable and start it')
      .option('-c, --config <file>', 'watch config the service uses (made absolute)')
      .option('--no-start', 'enable but do not start now')
      .action(async (opts) => {
        const { runServiceInstall } = await import('../service.js');
        process.exitCode = await runServiceInstall(opts);
      }),
  );
  cmd.addCommand(
    common(new Command('uninstall'))
      .description('Stop, disable and remove warden.service')
      .action(async (opts) => {
        const { runServiceUninstall } = await import('../service.js');
        process.exitCode = await runServiceUninstall(opts);
      }),
  );
  return cmd;
}
