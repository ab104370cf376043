// Process entry (bin/warden). `warden run` is started by agents and CI for every command, so
// it bypasses commander and everything else the other subcommands load; all other
// invocations go to cli/main.ts.
const args = process.argv.slice(2);
let handled = false;
if (args[0] === 'run') {
  const { parseRunArgs } = await import('./run-args.js');
  const parsed = parseRunArgs(args.slice(1));
  if (parsed) {
    handled = true;
    const { runRun } = await import('./run.js');
    process.exitCode = await runRun(parsed.command, parsed.opts);
  }
}
if (!handled) {
  const { main, exitCodeFor } = await import('./main.js');
  process.exitCode = await main(process.argv).catch(exitCodeFor);
}
export {};
