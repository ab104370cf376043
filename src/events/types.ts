// The one event vocabulary shared by every pipeline stage (DESIGN.md "Event" contract).
// Sensors produce raw records; the model turns them into WardenEvents; rules classify them;
// sinks write them. Keep required fields and key names stable: other tools parse them.

export const SEVERITIES = ['info', 'warn', 'alert'] as const;
export type Severity = (typeof SEVERITIES)[number];

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warn: 1, alert: 2 };

export function severityRank(s: Severity): number {
  return SEVERITY_RANK[s];
}

export function atLeast(s: Severity, min: Severity): boolean {
  return SEVERITY_RANK[s] >= SEVERITY_RANK[min];
}

export const CATEGORIES = [
  'credential_access',
  'persistence',
  'exfiltration',
  'execution',
  'privilege_escalation',
  'defense_evasion',
  'discovery',
  'collection',
  'command_and_control',
  'impact',
  'lateral_movement',
  'initial_access',
] as const;
export type Category = (typeof CATEGORIES)[number];

/** The agent session an event belongs to. `session` is unique per agent root process start. */
export interface AgentRef {
  name: string;
  root_pid: number;
  session: string;
  /** The agent root's working directory when detected: its project directory. */
  cwd?: string;
  /** The home of the agent's user (passwd), for `~/` paths in rules. */
  home?: string;
  /** HOME in the agent root's environment, when it differs from `home`. */
  env_home?: string;
  /** Its project directories: `cwd` at the agent's start, then those its own processes cd into. */
  workspaces?: string[];
}

/** The acting process. */
export interface ProcRef {
  pid: number;
  ppid: number;
  exe: string;
  argv: string[];
  cwd: string;
  uid: number;
  comm?: string;
  /** Why this program is not the tool its name says (written by an agent, run from a temporary directory). */
  tool_untrusted?: string;
  /** The executable the kernel loaded, when `exe` (the path executed) names something else. */
  real_exe?: string;
}

/**
 * What a file event did. `op` is the primary operation; for opens `flags` lists every
 * access the open flags grant (an O_WRONLY|O_CREAT|O_TRUNC open is op "create" with
 * flags [write, create, truncate]).
 */
export type FileOp =
  | 'read'
  | 'write'
  | 'create'
  | 'truncate'
  | 'rename'
  | 'unlink'
  | 'symlink'
  | 'link'
  | 'chmod'
  | 'chown'
  | 'setxattr'
  | 'mkdir'
  | 'rmdir'
  | 'utimes'
  | 'lookup';

export interface FileInfo {
  path: string;
  op: FileOp;
  flags?: Array<'read' | 'write' | 'create' | 'truncate' | 'append' | 'directory'>;
  /** rename/link: the source path (`path` is the destination, which is the write). */
  src?: string;
  /** symlink: what the link points to (`path` is the link created). */
  target?: string;
  /** chmod/create: the mode bits, octal digits as a number (e.g. 0o4755). */
  mode?: number;
  /** setxattr: the attribute name, e.g. security.capability. */
  xattr?: string;
  /** Result of the syscall when known: 0 or positive = success, negative errno otherwise. */
  ret?: number;
  /** The path as the process passed it (made absolute), when it is not `path`. */
  requested?: string;
  /** `inode`: `path` is a known secret or persistence file identified by device and inode. */
  identified_by?: 'inode';
  /** The kernel's path of the file, when `path` names it by inode. */
  resolved?: string;
}

export interface NetInfo {
  proto: 'tcp' | 'udp' | 'unix' | 'raw' | 'other';
  family?: 'inet' | 'inet6' | 'unix' | 'other';
  dst_ip?: string;
  dst_port?: number;
  /** Host name when known (DNS name the client resolved, SNI, Host header). */
  host?: string;
  /** Unix socket path (abstract sockets start with '@'). */
  path?: string;
  /** bind/listen: local address. */
  local_ip?: string;
  local_port?: number;
  bytes?: number;
}

export interface DnsInfo {
  query: string;
  qtype: string;
  server?: string;
  server_port?: number;
  answers?: string[];
  rcode?: string;
}

export interface ExitInfo {
  code: number;
  signal?: number;
  duration_ms?: number;
}

export interface WardenEvent {
  /** ISO-8601 UTC with milliseconds. */
  ts: string;
  /** Strictly increasing per run; assigned by the dispatcher right before sinks. */
  seq: number;
  /** Dotted kind: process.exec, file.open, net.connect, net.dns, agent.start, monitor.ready, ... */
  kind: string;
  severity: Severity;
  rule?: string;
  category?: Category;
  mitre?: string[];
  /** Human-readable summary (rule output for alerts). */
  message?: string;
  /** Other rules that matched the same event, below the one that set severity. */
  also?: string[];
  agent?: AgentRef;
  proc?: ProcRef;
  file?: FileInfo;
  net?: NetInfo;
  dns?: DnsInfo;
  exit?: ExitInfo;
  /** Sandbox instance that produced it (warden run). */
  sandbox?: { id: string; name?: string };
  /** Anything kind-specific that has no dedicated field (counters, reasons, sequence steps). */
  data?: Record<string, unknown>;
}

/** An event before the dispatcher stamps it with `seq`. */
export type UnstampedEvent = Omit<WardenEvent, 'seq'> & { seq?: number };
