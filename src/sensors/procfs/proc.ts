// Readers for /proc/<pid>: used for the start-up inventory (agents already running), to
// fill in what the kernel sensor did not capture (argv of candidate agents, cwd), and by
// the degraded poller. Every reader returns undefined when the process is gone or the
// file is unreadable; callers must expect processes to vanish at any time.
import fs from 'node:fs';

const PROC = '/proc';

export function listPids(): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync(PROC)) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) out.push(Number(name));
  }
  return out;
}

export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  /** Process group. */
  pgrp: number;
  /** Start time in clock ticks since boot. */
  startTicks: number;
  /** CPU time in user and kernel mode, clock ticks. */
  utime: number;
  stime: number;
  /** Resident set size in pages. */
  rssPages: number;
}

export function readStat(pid: number): ProcStat | undefined {
  let s: string;
  try {
    s = fs.readFileSync(`${PROC}/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // comm is in parentheses and may itself contain ") ": the last ")" ends it.
  const open = s.indexOf('(');
  const close = s.lastIndexOf(')');
  if (open < 0 || close < 0) return undefined;
  const rest = s.slice(close + 2).split(' ');
  return {
    pid,
    comm: s.slice(open + 1, close),
    state: rest[0] ?? '?',
    ppid: Number(rest[1]),
    pgrp: Number(rest[2]),
    startTicks: Number(rest[19]),
    utime: Number(rest[11]),
    stime: Number(rest[12]),
    rssPages: Number(rest[21]),
  };
}

export interface ProcIo {
  /** Bytes passed to read/write calls (any file, pipe, socket or device). */
  rchar: number;
  wchar: number;
  syscr: number;
  syscw: number;
  /** Bytes that went to or came from storage. */
  readBytes: number;
  writeBytes: number;
}

/**
 * /proc/<pid>/schedstat of the main thread: ns on a CPU and ns waiting for one. Their sum is
 * what the task asked for, which a busy machine does not hide (it only moves run to wait).
 */
export function readSchedstat(pid: number): { runNs: number; waitNs: number } | undefined {
  try {
    const [run, wait] = fs.readFileSync(`${PROC}/${pid}/schedstat`, 'latin1').split(' ');
    const r = { runNs: Number(run), waitNs: Number(wait) };
    return Number.isFinite(r.runNs) && Number.isFinite(r.waitNs) ? r : undefined;
  } catch {
    return undefined;
  }
}

/** /proc/<pid>/io (root, or the process's own user). */
export function readIo(pid: number): ProcIo | undefined {
  let s: string;
  try {
    s = fs.readFileSync(`${PROC}/${pid}/io`, 'latin1');
  } catch {
    return undefined;
  }
  const v: Record<string, number> = {};
  for (const line of s.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) v[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return { rchar: v.rchar ?? 0, wchar: v.wchar ?? 0, syscr: v.syscr ?? 0, syscw: v.syscw ?? 0, readBytes: v.read_bytes ?? 0, writeBytes: v.write_bytes ?? 0 };
}

export function readCmdline(pid: number): string[] | undefined {
  try {
    const buf = fs.readFileSync(`${PROC}/${pid}/cmdline`);
    if (buf.length === 0) return [];
    const s = buf.toString('utf8');
    const parts = s.split('\0');
    if (parts[parts.length - 1] === '') parts.pop();
    return parts;
  } catch {
    return undefined;
  }
}

function readLink(p: string): string | undefined {
  try {
    return fs.readlinkSync(p);
  } catch {
    return undefined;
  }
}

export const readExe = (pid: number) => readLink(`${PROC}/${pid}/exe`);
export const readCwd = (pid: number) => readLink(`${PROC}/${pid}/cwd`);
export const readFdPath = (pid: number, fd: number) => readLink(`${PROC}/${pid}/fd/${fd}`);

export interface ProcStatus {
  uid: number;
  euid: number;
  tgid: number;
}

export function readStatus(pid: number): ProcStatus | undefined {
  let s: string;
  try {
    s = fs.readFileSync(`${PROC}/${pid}/status`, 'latin1');
  } catch {
    return undefined;
  }
  const uid = /^Uid:\s+(\d+)\s+(\d+)/m.exec(s);
  const tgid = /^Tgid:\s+(\d+)/m.exec(s);
  return { uid: Number(uid?.[1] ?? -1), euid: Number(uid?.[2] ?? -1), tgid: Number(tgid?.[1] ?? pid) };
}

/** One variable of the process's initial environment (what it was exec'd with). */
export function readEnvVar(pid: number, name: string): string | undefined {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(`${PROC}/${pid}/environ`);
  } catch {
    return undefined;
  }
  const key = `${name}=`;
  for (const entry of buf.toString('utf8').split('\0')) if (entry.startsWith(key)) return entry.slice(key.length);
  return undefined;
}

/** Several variables of the process's initial environment (only the names asked for). */
export function readEnv(pid: number, names: readonly string[]): Record<string, string> | undefined {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(`${PROC}/${pid}/environ`);
  } catch {
    return undefined;
  }
  const want = new Set(names);
  const out: Record<string, string> = {};
  for (const entry of buf.toString('utf8').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0 && want.has(entry.slice(0, eq))) out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

/** Direct children of a process (all threads' children lists). */
export function readChildren(pid: number): number[] {
  const out = new Set<number>();
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`${PROC}/${pid}/task`);
  } catch {
    return [];
  }
  for (const t of tasks) {
    try {
      for (const c of fs.readFileSync(`${PROC}/${pid}/task/${t}/children`, 'latin1').split(' ')) if (c) out.add(Number(c));
    } catch {
      /* thread gone */
    }
  }
  return [...out];
}

/** All descendants of `root` (breadth first, bounded against pathological trees). */
export function readDescendants(root: number, limit = 100_000): number[] {
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0 && out.length < limit) {
    for (const c of readChildren(queue.shift()!)) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

let ticksPerSecond = 100;
let bootNsMono: bigint | undefined;

/** A process start time (clock ticks since boot) on the CLOCK_MONOTONIC ns scale. */
export function startTicksToMonoNs(ticks: number): bigint {
  if (bootNsMono === undefined) {
    // CLOCK_BOOTTIME - CLOCK_MONOTONIC is the time spent suspended; /proc/uptime is boottime.
    const up = Number(fs.readFileSync(`${PROC}/uptime`, 'latin1').split(' ')[0]);
    bootNsMono = process.hrtime.bigint() - BigInt(Math.round(up * 1e9));
  }
  return bootNsMono + (BigInt(ticks) * 1_000_000_000n) / BigInt(ticksPerSecond);
}

export function setTicksPerSecond(n: number): void {
  ticksPerSecond = n;
}
