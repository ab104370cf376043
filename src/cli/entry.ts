// Process entry (bin/warden). `warden run` is started by agents and CI for every command, so
// it bypasses commander and everything else the other subcommands load; all other
// invocations go to cli/main.ts. No top-level await: scripts/bundle-run.mjs also builds this
// entry as one CommonJS file, which Node loads without its ESM loader.
async function start(): Promise<void> {
  const args = process.argv.slice(2);
  // `warden rules list | head`: a reader that goes away (EPIPE; EIO when the terminal was
  // closed) ends the command quietly, like any Unix tool. Not for watch, whose stdout sink
  // reports the failure and keeps the audit log, nor for demo, which must still clean up
  // after its terminal is gone (it handles both itself).
  if (args[0] !== 'watch' && args[0] !== 'demo') {
    for (const s of [process.stdout, process.stderr])
      s.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EPIPE' && err.code !== 'EIO') throw err;
        process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
      });
  }
  if (args[0] === 'run') {
    const { parseRunArgs } = await import('./run-args.js');
    const parsed = parseRunArgs(args.slice(1));
    if (parsed) {
      const { runRun } = await import('./run.js');
      process.exitCode = await runRun(parsed.command, parsed.opts);
      return;
    }
  }
  if (args[0] === 'supervisor') {
    const { runSupervisor } = await import('./supervisor.js');
    // Gone once it has stopped (its runs' work after the answer was waited for): a handle left
    // open (a listener of a network that was not closed) kept a stopped supervisor alive for
    // hours, and its SIGTERM handler had nothing left to do.
    process.exit(await runSupervisor(args.slice(1)));
  }
  const { main, exitCodeFor } = await import('./main.js');
  process.exitCode = await main(process.argv).catch(exitCodeFor);
}

start().catch((err: unknown) => {
  process.stderr.write(`warden: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

export {};
