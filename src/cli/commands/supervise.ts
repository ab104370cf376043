// `warden supervise`: option definitions; the implementation is cli/supervise/.
import { Command } from 'commander';

export function superviseCommand(): Command {
  return new Command('supervise')
    .description("Run as a container's PID 1: the command unprivileged (no capabilities, no_new_privs, seccomp), its network through the egress proxy in this namespace, zombies reaped, signals forwarded, audit NDJSON on stdout")
    .usage('[options] -- command [args...]')
    .argument('<command...>', 'the command to supervise')
    .option('-p, --policy <file>', 'policy (the warden run format: network, credentials (env), env, resources.timeout, process.user, syscalls); default: network none')
    .option('--user <uid[:gid]>', 'run the command as this user (default: process.user, else nobody 65534); never 0')
    .option('--listen <addr:port>', '/healthz, /denials and /metrics (the command cannot reach this port), or none', '0.0.0.0:9464')
    .option('--token-file <file>', 'require Authorization: Bearer <token> for /denials and /metrics')
    .option('--audit <file>', 'also append the audit NDJSON to FILE')
    .option('--command-stdout <where>', "the command's stdout: stderr (default: stdout carries only the audit) or inherit", 'stderr')
    .action(async (command: string[], opts) => {
      const { runSupervise } = await import('../supervise/index.js');
      process.exitCode = await runSupervise(command, opts);
    });
}
