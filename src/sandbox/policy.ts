// The resolved `warden run` policy: what the sandbox enforces, after defaults. Plain types and
// parsers with no dependencies, so `warden run` without --policy never loads yaml or zod.
// The YAML schema that produces this is config/run-policy.ts.

export type NetworkMode = 'none' | 'full' | 'allowlist';

export interface CredentialSpec {
  /** Environment variable whose real value stays outside; the sandbox sees a surrogate. */
  env?: string;
  /** File whose real content stays outside (a surrogate file appears at the same path). */
  file?: string;
  /** Hosts the real value may be sent to (by the egress proxy). */
  hosts: string[];
  /** Source: a command run on the host whose stdout is the secret (shown as `env` or `file`). */
  command?: string[];
  /** Where the surrogate may be swapped for the real value (default: any request header). */
  headers?: string[];
  query?: string[];
  /** true: anywhere in request bodies; a list: those JSON / form fields only. */
  body?: boolean | string[];
  /** AWS keys (variable names): requests signed with the surrogates are re-signed (SigV4). */
  aws?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** An SSH private key brokered through an ssh-agent socket inside; `hosts` are ssh hosts. */
  sshKey?: string;
}

/** Per-host request rules (policy `network.rules`); hosts with rules are inspected inside TLS. */
export interface RequestRuleSpec {
  /** Intercept TLS even without credentials or other rules. */
  inspect?: boolean;
  /** Methods allowed (default all). */
  methods?: string[];
  /** Path patterns allowed (`*` one segment, `**` any depth; default all). */
  paths?: string[];
  /** Requests refused even when methods/paths allow them. */
  deny?: Array<{ methods?: string[]; paths?: string[] }>;
  /** `fetch`: git smart-HTTP push (receive-pack) is refused while fetch works. */
  git?: 'fetch' | 'push';
}

/**
 * Who the sandboxed process is on the host. `auto`: as root, the owner of the workspace when
 * that is not root (so files keep their owner and root-only files stay unreadable), else the
 * caller; unprivileged, always the caller. `caller`: never change identity.
 */
export type RunAs = 'auto' | 'caller' | { uid: number; gid: number };

/** An agent profile applied to the policy (sandbox/profile.ts; see agents/catalog.ts for the fields). */
export interface AgentProfileUse {
  name: string;
  title: string;
  /** Its state directories (`~/`), given to it as private layers (sandbox/layers.ts). */
  stateDirs: string[];
  /** What of them outlives the run. */
  keep: string[];
  perProject: string[];
  fresh: string[];
  /** Files in the home merged back by key. */
  homeFiles: Array<{ path: string; keys: string[] }>;
}

export interface RunPolicy {
  /** Policy file it came from, if any (for messages and audit). */
  source?: string;
  /** Keys the policy file set explicitly (a profile does not override them). */
  explicit?: { networkMode?: boolean };
  /** The agent profile in use, if any. */
  agent?: AgentProfileUse;
  filesystem: {
    /** Writable project directory; default: the current directory. */
    workspace?: string;
    /** Extra writable paths (absolute, `~/`, or relative to the workspace). */
    allowWrite: string[];
    /** Extra hidden paths/patterns (same syntax as SECRET_PATHS). */
    denyRead: string[];
    /** Entries of the built-in secret list to leave visible (pattern or path). */
    allowRead: string[];
    /** Extra write-protected paths (relative to the workspace or absolute). */
    readOnly: string[];
  };
  env: {
    /** Names (or NAME_* prefixes with a trailing `*`) passed through from Warden's environment. */
    pass: string[];
    set: Record<string, string>;
  };
  network: {
    mode: NetworkMode;
    allow: string[];
    resolve: Record<string, string>;
    /** DNS servers the egress proxy resolves allowed names with ("ip" or "ip:port"); default: the host's. */
    upstreamDns?: string[];
    /** socket(AF_UNIX) inside the sandbox (docker.sock, ssh-agent, D-Bus...). */
    unixSockets: boolean;
    /** Request rules per host pattern ("host" or "*.domain"). */
    rules?: Record<string, RequestRuleSpec>;
  };
  credentials: CredentialSpec[];
  resources: {
    memoryBytes?: number;
    pids?: number;
    /** CPUs (1.5 = one and a half cores). */
    cpus?: number;
    timeoutMs?: number;
    /** Between SIGTERM and SIGKILL when the timeout fires. */
    graceMs: number;
  };
  process: {
    runAs: RunAs;
    /** Descriptors of Warden's own to pass through at the same number (e.g. a make jobserver). */
    passFds: number[];
  };
  syscalls: {
    deny: string[];
    allow: string[];
  };
}

/** Environment variables passed by default: none of them carries a credential. */
export const DEFAULT_ENV_PASS: readonly string[] = [
  'PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'TERM', 'COLORTERM', 'TERM_PROGRAM', 'NO_COLOR', 'FORCE_COLOR',
  'LANG', 'LANGUAGE', 'LC_*', 'TZ', 'COLUMNS', 'LINES', 'EDITOR', 'VISUAL', 'PAGER',
];

export function defaultRunPolicy(): RunPolicy {
  return {
    filesystem: { allowWrite: [], denyRead: [], allowRead: [], readOnly: [] },
    env: { pass: [], set: {} },
    network: { mode: 'none', allow: [], resolve: {}, unixSockets: false },
    credentials: [],
    resources: { graceMs: 5000 },
    process: { runAs: 'auto', passFds: [] },
    syscalls: { deny: [], allow: [] },
  };
}

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)$/i;
const UNIT: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** "2GB", "512M", "1.5GiB", 1048576 → bytes (binary units, like Docker's 2g). */
export function parseSize(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v > 0 ? v : undefined;
  const m = SIZE_RE.exec(v.trim());
  if (!m) return undefined;
  const n = Math.floor(parseFloat(m[1]!) * UNIT[m[2]!.toUpperCase()]!);
  return n > 0 ? n : undefined;
}

const DUR_RE = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$/;

/** "30m", "1h30m", "90s", "500ms", 45 (seconds) → milliseconds. */
export function parseDuration(v: string | number): number | undefined {
  if (typeof v === 'number') return v > 0 && Number.isFinite(v) ? Math.round(v * 1000) : undefined;
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return parseDuration(Number(s));
  const m = DUR_RE.exec(s);
  if (!m || s === '') return undefined;
  const ms = (+(m[1] ?? 0)) * 3_600_000 + (+(m[2] ?? 0)) * 60_000 + Math.round(parseFloat(m[3] ?? '0') * 1000) + +(m[4] ?? 0);
  return ms > 0 ? ms : undefined;
}

/** `uid[:gid]`, `nobody`, `auto`, `caller`. */
export function parseRunAs(v: string | number): RunAs | undefined {
  if (v === 'auto' || v === 'caller') return v;
  if (v === 'nobody') return { uid: 65534, gid: 65534 };
  const m = /^(\d+)(?::(\d+))?$/.exec(String(v));
  if (!m) return undefined;
  const uid = Number(m[1]);
  const gid = m[2] !== undefined ? Number(m[2]) : uid;
  // spawn() takes int32 ids; a larger one failed at start as "options.uid must be int32".
  if (uid > 2 ** 31 - 1 || gid > 2 ** 31 - 1) return undefined;
  return { uid, gid };
}
