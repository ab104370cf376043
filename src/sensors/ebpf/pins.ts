// Where a monitor's pinned kernel state lives (bpffs), and the reaping of state nobody will
// adopt. A `warden watch` with an audit log pins its sensor under a directory named after the
// log: if the monitor or its loader is killed, the kernel side keeps recording, and the next
// monitor on that log (restarted by the loader, a service manager or the user) adopts it. A
// registry file per instance (root-only, under /run) says which log and which monitor it
// belongs to; state whose monitor is gone and whose log no longer exists is removed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

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
  created: string;
}

/** The instance of a monitor writing `log` (one writer per log, so one instance per log). */
export function pinInstance(log: string): PinInstance {
  const id = crypto.createHash('sha256').update(path.resolve(log)).digest('hex').slice(0, 16);
  return { id, pinDir: path.join(PIN_ROOT, id), spool: path.join(REGISTRY, `${id}.spool`), registry: path.join(REGISTRY, `${id}.json`) };
}

export function register(inst: PinInstance, log: string): void {
  fs.mkdirSync(REGISTRY, { recursive: true, mode: 0o700 });
  const e: RegistryEntry = { log: path.resolve(log), monitor_pid: process.pid, created: new Date().toISOString() };
  fs.writeFileSync(inst.registry, JSON.stringify(e) + '\n', { mode: 0o600 });
}

export function unregister(inst: PinInstance): void {
  fs.rmSync(inst.registry, { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes pinned instances nobody will adopt: their monitor is gone and their audit log no
 * longer exists (a test's temporary directory, a log deleted by hand). Returns their ids.
 */
export function reapStale(except?: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(REGISTRY).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names) {
    const id = n.slice(0, -5);
    if (id === except) continue;
    let e: RegistryEntry;
    try {
      e = JSON.parse(fs.readFileSync(path.join(REGISTRY, n), 'utf8')) as RegistryEntry;
    } catch {
      continue;
    }
    if (alive(e.monitor_pid) || fs.existsSync(e.log)) continue;
    fs.rmSync(path.join(PIN_ROOT, id), { recursive: true, force: true });
    fs.rmSync(path.join(REGISTRY, n), { force: true });
    fs.rmSync(path.join(REGISTRY, `${id}.spool`), { force: true });
    fs.rmSync(path.join(REGISTRY, `${id}.log`), { force: true });
    out.push(id);
  }
  reapOrphanLogs();
  return out;
}

/** The output of respawned monitors whose instance is over is kept an hour, for a look after the fact. */
function reapOrphanLogs(): void {
  let names: string[];
  try {
    names = fs.readdirSync(REGISTRY);
  } catch {
    return;
  }
  const hourAgo = Date.now() - 3_600_000;
  for (const n of names) {
    if (!n.endsWith('.log') || names.includes(`${n.slice(0, -4)}.json`)) continue;
    const f = path.join(REGISTRY, n);
    try {
      if (fs.statSync(f).mtimeMs < hourAgo) fs.rmSync(f, { force: true });
    } catch {
      // gone meanwhile
    }
  }
}
