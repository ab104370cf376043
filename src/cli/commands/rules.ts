// `warden rules list | lint | test`: option definitions; implementation in cli/rules.ts.
import { Command } from 'commander';

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

function common(c: Command): Command {
  return c
    .option('-c, --config <file>', 'watch config (YAML): rules.files, rules.disable, network.allow')
    .option('-r, --rules <file>', 'extra rule file or directory, after the defaults (repeatable)', collect)
    .option('--no-defaults', 'do not load the default ruleset');
}

export function rulesCommand(): Command {
  const cmd = new Command('rules').description('List, check and test detection rules');
  cmd.addCommand(
    common(new Command('list'))
      .description('List every rule, sequence and threshold with severity, category, kinds and source')
      .option('--json', 'machine-readable output')
      .action(async (opts) => {
        const { rulesList } = await import('../rules.js');
        process.exitCode = await rulesList(opts);
      }),
  );
  cmd.addCommand(
    common(new Command('lint'))
      .description('Check rule files (with the defaults unless --no-defaults); errors name file, line and rule')
      .argument('[files...]', 'rule files or directories to check')
      .action(async (files: string[], opts) => {
        const { rulesLint } = await import('../rules.js');
        process.exitCode = await rulesLint(files, opts);
      }),
  );
  cmd.addCommand(
    common(new Command('test'))
      .description('Run rule fixtures (default: the fixtures shipped with the default rules)')
      .argument('[fixtures...]', 'fixture files or directories')
      .option('--coverage', 'also list rules that no fixture expects to fire / not to fire')
      .option('-v, --verbose', 'print every fixture, not only failures')
      .action(async (fixtures: string[], opts) => {
        const { rulesTest } = await import('../rules.js');
        process.exitCode = await rulesTest(fixtures, opts);
      }),
  );
  cmd.addCommand(
    new Command('import-sigma')
      .description('Convert Sigma rules (process_creation, file_event, network_connection) into Warden rule YAML; report the rules that cannot be converted and why')
      .argument('<paths...>', 'Sigma rule files or directories of them')
      .option('-o, --output <file>', 'write the converted rules here (default: stdout)')
      .option('--report <file>', 'write the per-rule report (JSON) here')
      .option('-q, --quiet', 'no summary on stderr')
      .action(async (paths: string[], opts) => {
        const { rulesImportSigma } = await import('../rules.js');
        process.exitCode = await rulesImportSigma(paths, opts);
      }),
  );
  return cmd;
}
