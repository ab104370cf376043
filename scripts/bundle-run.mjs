// Bundles the `warden run` start path (cli/entry.js and the sandbox modules it loads on every
// run) into dist/cli/entry-bundle.js, so a run loads one module instead of ~20: ESM loading
// is a measurable part of `warden run -- true`. Everything loaded only on demand (commander
// and the other subcommands, policy files, audit sinks, egress, the sensor) stays external.
import { build } from 'esbuild';
import fs from 'node:fs';

const external = [
  './main.js', // commander and every other subcommand
  '../config/run-policy.js', // yaml + zod, only with --policy
  '../events/dispatcher.js', // only with --audit
  '../sinks/ndjson-file.js',
  './sandbox-monitor.js', // only with --monitor
];
const out = 'dist/cli/entry-bundle.js';
try {
  await build({
    entryPoints: ['dist/cli/entry.js'],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    external,
    logLevel: 'warning',
  });
  const text = fs.readFileSync(out, 'utf8');
  for (const bad of ['commander', 'zod', 'yaml']) if (new RegExp(`from ["']${bad}["']`).test(text)) throw new Error(`${out} imports ${bad} at load time`);
} catch (err) {
  // bin/warden falls back to dist/cli/entry.js: slower start, same behaviour.
  fs.rmSync(out, { force: true });
  console.error(`bundle-run: ${err.message}; warden run will load dist/cli/entry.js`);
}
