// Schema of `warden watch --config FILE` (DESIGN.md "Minimal file formats"). Unknown keys
// are errors: a misspelt option must not silently fall back to its default.
import { z } from 'zod';
import { SEVERITIES } from '../events/types.js';
import { ConfigError, lineAt, parseYaml, validateYaml } from './load.js';
import fs from 'node:fs';

const size = z.union([z.number().int().positive(), z.string().regex(/^\d+(\.\d+)?\s*([KMGT]i?B?|B)?$/i, 'expected a size like 512MB or 2GB')]);

export const agentEntry = z.strictObject({
  name: z.string().min(1),
  binary: z.string().min(1),
  args_regex: z.string().optional(),
});

export const watchConfigSchema = z.strictObject({
  agents: z.array(agentEntry).default([]),
  rules: z
    .strictObject({
      files: z.array(z.string()).default([]),
      min_severity: z.enum(SEVERITIES).default('info'),
      disable: z.array(z.string()).default([]),
    })
    .prefault({}),
  network: z.strictObject({ allow: z.array(z.string()).default([]) }).prefault({}),
  governor: z
    .strictObject({
      mode: z.enum(['warn', 'throttle', 'kill']).default('warn'),
      defaults: z.strictObject({ memory_high: size.optional(), memory_max: size.optional() }).prefault({}),
    })
    .prefault({}),
  output: z
    .strictObject({
      file: z.string().optional(),
      max_size: size.optional(),
      max_backups: z.number().int().nonnegative().optional(),
      compress: z.boolean().optional(),
      min_severity: z.enum(SEVERITIES).optional(),
    })
    .prefault({}),
  sensor: z
    .strictObject({
      backend: z.enum(['auto', 'bpftrace', 'procfs']).default('auto'),
      perf_rb_pages: z.number().int().positive().default(1024),
      /** Also report file opens that failed (ENOENT etc.). */
      failed_opens: z.boolean().default(false),
    })
    .prefault({}),
});

export type WatchConfig = z.infer<typeof watchConfigSchema>;

/** Loads a watch config; regexes are compiled here so a bad one names its line. */
export function loadWatchConfig(file: string | undefined): WatchConfig {
  if (!file) return watchConfigSchema.parse({});
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, undefined, undefined, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const parsed = parseYaml(text, file);
  const cfg = validateYaml(parsed, watchConfigSchema);
  cfg.agents.forEach((a, i) => {
    if (a.args_regex === undefined) return;
    try {
      new RegExp(a.args_regex);
    } catch (err) {
      throw new ConfigError(file, lineAt(parsed, ['agents', i, 'args_regex']), `agents[${i}].args_regex`, (err as Error).message);
    }
  });
  return cfg;
}
