// Schema of `warden watch --config FILE` (DESIGN.md "Minimal file formats"). Unknown keys
// are errors: a misspelt option must not silently fall back to its default.
import { z } from 'zod';
import { SEVERITIES } from '../events/types.js';
import { ConfigError, lineAt, parseYaml, validateYaml, type ParsedYaml } from './load.js';
import fs from 'node:fs';
import path from 'node:path';

const size = z.union([z.number().int().positive(), z.string().regex(/^\d+(\.\d+)?\s*([KMGT]i?B?|B)?$/i, 'expected a size like 512MB or 2GB')]);

const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' });

/** Queueing and retry of the HTTP sinks (webhook, OTLP). */
const delivery = {
  min_severity: z.enum(SEVERITIES).default('warn'),
  /** Events per request. */
  batch_size: z.number().int().min(1).max(10_000).default(100),
  /** Events waiting for delivery; beyond it the oldest are dropped and counted. */
  max_queue: z.number().int().min(1).max(10_000_000).default(10_000),
  timeout_ms: z.number().int().min(100).max(600_000).default(10_000),
  /** First retry delay; doubles per failure (with jitter) up to max_backoff_ms. */
  backoff_ms: z.number().int().min(10).max(600_000).default(500),
  max_backoff_ms: z.number().int().min(10).max(3_600_000).default(30_000),
};

export const GOVERNOR_MODES = ['warn', 'throttle', 'kill'] as const;

const governorLimits = z
  .strictObject({
    /** What happens at the limit for this agent (default: governor.mode); `off`: not governed. */
    mode: z.enum([...GOVERNOR_MODES, 'off']).optional(),
    memory_high: size.optional(),
    memory_max: size.optional(),
    /** Relative CPU share, 100 = an ordinary process's. */
    cpu_weight: z.number().int().min(1).max(10_000).optional(),
    /** A cap in cores (e.g. 1.5). */
    cpus: z.number().positive().max(1024).optional(),
    pids: z.number().int().positive().optional(),
  });

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
      /** Optional rulesets shipped with Warden (rules/packs/NAME), loaded after the defaults. */
      packs: z.array(z.string()).default([]),
      min_severity: z.enum(SEVERITIES).default('info'),
      disable: z.array(z.string()).default([]),
    })
    .prefault({}),
  network: z.strictObject({ allow: z.array(z.string()).default([]) }).prefault({}),
  governor: z
    .strictObject({
      /** Per-session cgroups, limits and tiers (needs root and cgroups to enforce; reports without them). */
      enabled: z.boolean().default(true),
      mode: z.enum(GOVERNOR_MODES).default('warn'),
      /** Limits of every agent without an entry in `agents` (else the built-in ones per agent). */
      defaults: governorLimits.prefault({}),
      /** Limits per agent session name (claude, codex, gemini, cursor-agent, ...). */
      agents: z.record(z.string(), governorLimits).default({}),
      /** How often memory is read (ms). */
      interval_ms: z.number().int().min(20).max(60_000).default(250),
      leak: z
        .strictObject({
          /** Memory that only grew during this many seconds, by at least min_growth, is a leak. */
          window_s: z.number().positive().max(86_400).default(120),
          min_growth: size.default('256MB'),
        })
        .prefault({}),
      cpu_burn: z
        .strictObject({
          /** A process using at least min_share of a core for window_s seconds is reported (resource.cpu). */
          window_s: z.number().positive().max(3600).default(5),
          min_share: z.number().min(0.05).max(1).default(0.9),
        })
        .prefault({}),
    })
    .prefault({}),
  /**
   * Kernel-refused reads: opens of protected secrets by processes of an agent's tree are refused
   * (fanotify permission events), and Warden's own config, rules and audit log are closed to them.
   */
  protect: z
    .union([
      z.boolean(),
      z.strictObject({
        enabled: z.boolean().default(true),
        /** More paths to protect (same patterns as the rules' secret_paths: ~/x, /abs, **\/x). */
        paths: z.array(z.string().min(1)).default([]),
        /** The built-in secret list too (false: only `paths`, and Warden's own files). */
        builtin: z.boolean().default(true),
        /** A decision not made within this time is allowed (fail-open) and reported as an alert. */
        decision_timeout_ms: z.number().int().min(10).max(10_000).default(250),
        /** Seconds between rescans for protected files that appeared or were replaced. */
        rescan_s: z.number().positive().max(3600).default(10),
      }),
    ])
    .default(false),
  output: z
    .strictObject({
      file: z.string().optional(),
      /** Rotate the audit log at this size (0 = never). Default 64MB. */
      max_size: size.optional(),
      /** Rotated files to keep (0 = all). Default 10. */
      max_backups: z.number().int().nonnegative().optional(),
      /** gzip rotated files. Default true. */
      compress: z.boolean().optional(),
      min_severity: z.enum(SEVERITIES).optional(),
      /** Buffered events are written at least this often: the most a SIGKILL can lose. */
      flush_interval_ms: z.number().int().min(1).max(60_000).optional(),
      /** fdatasync interval (0 = only at rotation and exit): the most a power loss can lose. */
      fsync_interval_ms: z.number().int().nonnegative().max(3_600_000).optional(),
    })
    .prefault({}),
  sinks: z
    .strictObject({
      stdout: z
        .union([
          z.boolean(),
          z.strictObject({ format: z.enum(['json', 'text']).default('json'), min_severity: z.enum(SEVERITIES).default('info') }),
        ])
        .default(false),
      otlp: z
        .strictObject({
          /** Collector base URL (…:4318) or the full /v1/logs URL. */
          endpoint: httpUrl,
          headers: z.record(z.string(), z.string()).default({}),
          service_name: z.string().min(1).default('warden'),
          ...delivery,
        })
        .optional(),
      webhook: z.strictObject({ url: httpUrl, headers: z.record(z.string(), z.string()).default({}), ...delivery }).optional(),
      notify: z
        .strictObject({
          enabled: z.boolean().default(true),
          min_severity: z.enum(SEVERITIES).default('alert'),
          /** Same rule + session + target notified at most once per window. */
          dedup_s: z.number().nonnegative().default(300),
          /** At most `rate_max` notifications per `rate_window_s`; the rest are counted and summarised. */
          rate_max: z.number().int().positive().default(10),
          rate_window_s: z.number().positive().default(30),
          /** Where there is no session bus: print to the terminal (stderr). */
          terminal: z.boolean().default(true),
        })
        .prefault({}),
    })
    .prefault({}),
  api: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Unix socket path (default: $XDG_RUNTIME_DIR/warden/warden.sock or /run/warden/warden.sock). */
      socket: z.string().min(1).optional(),
      /** Events kept in memory for queries and new subscribers. */
      ring_size: z.number().int().min(100).max(1_000_000).default(10_000),
    })
    .prefault({}),
  http: z
    .strictObject({
      /** host:port; loopback unless you mean it. Absent = no HTTP server. */
      listen: z
        .string()
        .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:9464')
        .refine((s) => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, 'port must be 0-65535'),
      /** File holding a bearer token required for /metrics and /events (not /healthz). */
      token_file: z.string().optional(),
      /** Server-sent event stream at /events. */
      sse: z.boolean().default(true),
    })
    .optional(),
  sensor: z
    .strictObject({
      backend: z.enum(['auto', 'ebpf', 'bpftrace', 'procfs']).default('auto'),
      /** Per-CPU perf buffer pages (default: 16 MiB per CPU, 64 MiB in all at most). */
      perf_rb_pages: z.number().int().positive().optional(),
      /** Fold consecutive identical opens of one process within this many ms into a count (0 = report every open). */
      fold_opens_ms: z.number().int().nonnegative().default(1000),
      /** Also report file opens that failed (ENOENT etc.; failed opens of secret and persistence names always are). */
      failed_opens: z.boolean().default(false),
      /**
       * While records flow, the compiled sensor takes them from the kernel and hands them to the
       * monitor at most once per this many ms (the first after a quiet spell at once; the rest wait
       * in the kernel's ring buffers): each hand-off costs the monitor CPU whatever it carries.
       * 0: at every kernel wake-up (at most every 10 ms).
       */
      batch_ms: z.number().int().min(0).max(1000).default(40),
      /**
       * Keep the compiled sensor's kernel state pinned (bpffs) while a monitor with an audit log
       * runs: a monitor or sensor that is killed leaves the kernel side recording, and the
       * next monitor on the same log takes it over (the gap and who killed it are reported).
       */
      persist: z.boolean().default(true),
      /** Restart a monitor that was killed (its sensor starts it again with the same command line). */
      respawn: z.boolean().default(true),
    })
    .prefault({}),
});

export type WatchConfig = z.infer<typeof watchConfigSchema>;

// The file each loaded config came from: checks made later (rules.disable needs the rules,
// network.allow the destination parser) still name its file and line.
const sources = new WeakMap<WatchConfig, { file: string; parsed: ParsedYaml }>();

/** The file of a loaded config and the line of a key in it (undefined for the built-in default). */
export function configSource(cfg: WatchConfig): { file: string; line(path: ReadonlyArray<string | number>): number | undefined } | undefined {
  const src = sources.get(cfg);
  return src && { file: src.file, line: (p) => lineAt(src.parsed, p) };
}

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
  // Relative rule files are next to the config, whatever the current directory (a service
  // runs in /): `rules lint -c` and `replay -c` resolved them so, `watch` did not.
  const dir = path.dirname(path.resolve(file));
  cfg.rules.files = cfg.rules.files.map((f) => path.resolve(dir, f));
  sources.set(cfg, { file, parsed });
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
