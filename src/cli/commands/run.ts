// `warden run`: option definitions; the sandbox is in cli/run.ts and sandbox/. The common
// invocations are parsed without commander by cli/entry.ts (run-args.ts) for a fast start;
// this definition serves --help and anything unusual.
import { Command } from 'commander';
import { AGENTS } from '../../agents/catalog.js';

export function runCommand(): Command {
  return new Command('run')
    .description('Run a command confined: workspace writable, secrets hidden, environment scrubbed, seccomp, limits, network policy')
    .usage('[options] -- command [args...]')
    .argument('<command...>', 'the command to run inside the sandbox')
    .option('-p, --policy <file>', 'sandbox policy (YAML); default: built-in policy, network none')
    .option('--policy-ref <ref:path>', "the repository's policy as committed at REF (e.g. origin/main:.warden/policy.yaml), read from git objects; it can only tighten --policy")
    .option('--audit <file>', 'append sandbox decisions as NDJSON events to FILE (- for stdout)')
    .option('--network <mode>', 'override network.mode: none | full | allowlist')
    .option('--monitor', 'attach the kernel sensor to the sandbox (adds ~0.3 s to start; needs root)')
    .option('--agent <name>', `agent profile: ${AGENTS.map((a) => a.name).join(', ')}, auto (from the command, the default) or none`)
    .option('--print-policy', 'print the policy in effect (profile and policy file merged) as YAML and exit')
    .option('-q, --quiet', 'no hints on stderr (denials are still recorded)')
    .option('--learn [file]', 'run with the network open (every destination recorded) and write the policy the run needed (default: warden-policy.learned.yaml)')
    .action(async (command: string[], opts) => {
      const { runRun } = await import('../run.js');
      process.exitCode = await runRun(command, opts);
    });
}
