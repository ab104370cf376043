// Bundles the `warden run` start path (cli/entry.js and the sandbox modules it loads on every
// run) into one CommonJS file, dist/cli/entry-bundle.cjs, which bin/warden requires: one module
// instead of ~20, and no ESM loader on the way (both measurable in `warden run -- true`).
// Everything loaded only on demand (commander and the other subcommands, policy files, audit
// sinks, egress, the sensor) stays external and is imported from dist/ as ES modules.
import { build } from 'esbuild';
import fs from 'node:fs';

const external = [
  './main.js', // commander and every other subcommand
  './supervisor.js', // the fast path's resident supervisor (yaml, zod for policies)
  '../config/run-policy.js', // yaml + zod, only with --policy
  '../config/policy-ref.js', // git objects + yaml + zod, only with --policy-ref
  '../events/dispatcher.js', // only with --audit
  '../sinks/ndjson-file.js',
  './sandbox-monitor.js', // only with --monitor
  '../sandbox/view-mounts.js', // koffi: only for idmapped views (root, directories the sandbox uid does not own)
  '../sandbox/policy-yaml.js', // yaml: only for --print-policy / --learn
];
const out = 'dist/cli/entry-bundle.cjs';
try {
  await build({
    entryPoints: ['dist/cli/entry.js'],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    packages: 'external',
    external,
    logLevel: 'warning',
  });
  let text = fs.readFileSync(out, 'utf8');
  for (const bad of ['commander', 'zod', 'yaml']) if (new RegExp(`require\\(["']${bad}["']\\)`).test(text)) throw new Error(`${out} loads ${bad} at start`);
  // esbuild's __toESM copies every property of a module (node:fs has ~100) into a new object
  // with getters, once per import site. A cached object inheriting from the module gives the
  // same `default` and named bindings at a fraction of the start-up cost.
  const helper = /var __toESM = \(mod, isNodeMode, target\) => \(target = [\s\S]*?\n\)\);\n/;
  if (helper.test(text)) {
    text = text.replace(
      helper,
      'var __toESMCache = new Map();\n' +
        'var __toESM = (mod, isNodeMode) => {\n' +
        '  if (mod == null || (!isNodeMode && mod.__esModule)) return mod;\n' +
        '  let t = __toESMCache.get(mod);\n' +
        '  if (!t) __toESMCache.set(mod, (t = Object.create(mod, { default: { value: mod, enumerable: true } })));\n' +
        '  return t;\n' +
        '};\n',
    );
    fs.writeFileSync(out, text);
  }
} catch (err) {
  // bin/warden falls back to dist/cli/entry.js: slower start, same behaviour.
  fs.rmSync(out, { force: true });
  console.error(`bundle-run: ${err.message}; warden run will load dist/cli/entry.js`);
}
