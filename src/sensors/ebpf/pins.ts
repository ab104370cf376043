// Where a monitor's pinned kernel state lives (bpffs), and the reaping of state nobody will
// adopt. A `warden watch` with an audit log pins its sensor under a directory named after the
// log: if the monitor or its loader is killed, the kernel side keeps recording, and the next
// monitor on that log (restarted by the loader, a service manager or the user) adopts it. A
// registry file per instance (root-only, under /run) says which log and which monitor it
// belongs to; state whose monitor is gone and whose log no longer exists is removed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { procStartTime } from '../../util/proc-stat.js';

export const PIN_ROOT = '/sys/fs/bpf/warden';
export const REGISTRY = '/run/warden-sensor';

export interface PinInstance {
  id: string;
  pinDir: string;
  spool: string;
  registry: string;
}

interface RegistryEntry {
  log: string;
  monitor_pid: number;
  /** The monitor's start time (/proc/PID/stat field 22): its pid alone is reused. */
  monitor_start?: number;
  created: string;
}

/** The instance of a monitor writing `log` (one writer per log, so one instance per log). */
export function pinInstance(log: string): PinInstance {
  const id = crypto.createHash('sha256').update(path.resolve(log)).digest('hex').slice(0, 16);
  return { id, pinDir: path.join(PIN_ROOT, id), spool: path.join(REGISTRY, `${id}.spool`), registry: path.join(REGISTRY, `${id}.json`) };
}

/**
 * How long the state of a monitor that died is kept for the next monitor on its log to adopt
 * (the loader restarts it at once, a service manager within seconds). Beyond that nobody is
 * coming: the programs would stay attached for ever, paid for by every traced syscall on the host.
 */
export const ADOPT_MS = 3_600_000;
/** The monitor touches its registry entry this often: the entry's age is then its time of death. */
const HEARTBEAT_MS = 60_000;
const heartbeats = new Map<string, NodeJS.Timeout>();

export function register(inst: PinInstance, log: string): void {
  fs.mkdirSync(REGISTRY, { recursive: true, mode: 0o700 });
  const e: RegistryEntry = { log: path.resolve(log), monitor_pid: process.pid, monitor_start: procStartTime(process.pid), created: new Date().toISOString() };
  fs.writeFileSync(inst.registry, JSON.stringify(e) + '\n', { mode: 0o600 });
  clearInterval(heartbeats.get(inst.registry));
  const t = setInterval(() => {
    const now = new Date();
    try {
      fs.utimesSync(inst.registry, now, now);
    } catch {
      /* removed by unregister meanwhile */
    }
  }, HEARTBEAT_MS);
  t.unref();
  heartbeats.set(inst.registry, t);
}

export function unregister(inst: PinInstance): void {
  clearInterval(heartbeats.get(inst.registry));
  heartbeats.delete(inst.registry);
  fs.rmSync(inst.registry, { force: true });
}

/**
 * Whether the entry's monitor still runs. Its pid alone says nothing after a while: with the
 * default pid_max (32,768) a busy host reuses it within minutes, and an instance kept for a
 * reused pid stayed attached for ever (every traced syscall on the host paid for two sensors).
 */
function alive(e: RegistryEntry): boolean {
  const start = procStartTime(e.monitor_pid);
  if (start === undefined) return false;
  if (e.monitor_start !== undefined) return start === e.monitor_start;
  // an entry written before start times were recorded: a process of that pid that is not a
  // warden monitor is not its monitor
  try {
    return fs.readFileSync(`/proc/${e.monitor_pid}/cmdline`, 'utf8').includes('warden');
  } catch {
    return false;
  }
}

/**
 * Removes pinned instances nobody will adopt: their monitor is gone and their audit log no
 * longer exists (a test's temporary directory, a log deleted by hand), or it died more than
 * ADOPT_MS ago and no monitor took its state over. Returns their ids.
 */
export function reapStale(except?: string, dirs: { registry: string; pins: string } = { registry: REGISTRY, pins: PIN_ROOT }): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dirs.registry).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const out: string[] = [];
  const now = Date.now();
  for (const n of names) {
    const id = n.slice(0, -5);
    if (id === except) continue;
    let e: RegistryEntry;
    let beat: number;
    try {
      e = JSON.parse(fs.readFileSync(path.join(dirs.registry, n), 'utf8')) as RegistryEntry;
      beat = fs.statSync(path.join(dirs.registry, n)).mtimeMs;
    } catch {
      continue;
    }
    if (alive(e)) continue;
    if (fs.existsSync(e.log) && now - beat < ADOPT_MS) continue;
    fs.rmSync(path.join(dirs.pins, id), { recursive: true, force: true });
    fs.rmSync(path.join(dirs.registry, n), { force: true });
    fs.rmSync(path.join(dirs.registry, `${id}.spool`), { force: true });
    fs.rmSync(path.join(dirs.registry, `${id}.spool.inflight`), { force: true });
    fs.rmSync(path.join(dirs.registry, `${id}.log`), { force: true });
    out.push(id);
  }
  reapOrphanLogs(dirs.registry);
  return out;
}

/**
 * The output of respawned monitors, and records spooled for a monitor that never came back, whose
 * instance is over are kept an hour (for a look after the fact, or a late start on the same log).
 */
function reapOrphanLogs(registry: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(registry);
  } catch {
    return;
  }
  const hourAgo = Date.now() - 3_600_000;
  for (const n of names) {
    const m = /^(.*)\.(log|spool|spool\.inflight)$/.exec(n);
    if (!m || names.includes(`${m[1]}.json`)) continue;
    const f = path.join(registry, n);
    try {
      if (fs.statSync(f).mtimeMs < hourAgo) fs.rmSync(f, { force: true });
    } catch {
      // gone meanwhile
    }
  }
}
