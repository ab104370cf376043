// Hand-offs: an agent's process asks a long-lived server outside its tree to run something
// (tmux new-window, screen -X, at, a crontab, ssh localhost). The kernel sensor follows forks,
// so that work would start outside every agent tree and be invisible. This module decides
// which new children of such a server are the agent's:
//
//  * tmux, screen: while an agent process is connected to the server's socket (the kernel
//    reports the listening process of a unix connect), and 2 s after, the children of the
//    server and of the processes already under it (pane shells) are the agent's.
//  * sshd: the child of the listener that holds the very connection the agent opened
//    (matched by the agent's local port).
//  * atd: the child that opens a job file an agent session wrote with `at`.
//  * cron: the job whose command is in a crontab an agent session wrote.
//  * docker, podman, containerd, systemd (systemd-run, D-Bus): what they start is not a child
//    of anything the monitor can follow; the hand-off itself is reported, unattributed.
//
// The kernel side: a server in the sensor's `servers` map gives each new child a provisional
// tracking state (F_HANDOFF); the model holds its records until decide*() says whose it is.
import fs from 'node:fs';
import * as proc from '../sensors/procfs/proc.js';
import { basename } from './agents.js';

export type HandoffVia = 'tmux' | 'screen' | 'sshd' | 'at' | 'cron' | 'docker' | 'podman' | 'containerd' | 'systemd';

/** What the model gives this module. */
export interface HandoffHost {
  /** The kernel sensor's servers map. */
  serve(pid: number, root: number): void;
  unserve(pid: number): void;
  now(): number;
  /** Where at and cron keep their jobs (tests point them elsewhere). */
  atJobs?: string;
  cronFiles?: RegExp[];
}

interface Window {
  via: HandoffVia;
  server: number;
  /** Session id and root pid the children go to. */
  session: string;
  root: number;
  /** Agent processes connected; the window closes GRACE_MS after the last one is gone. */
  clients: Set<number>;
  until: number;
  /** sshd: the agent's local port of the connection (the child holding it is the agent's). */
  clientPorts: Set<number>;
  /** Pids put in the sensor's servers map for this window. */
  served: Set<number>;
}

export interface Handoff {
  via: HandoffVia;
  server: number;
  serverExe?: string;
  /** Whether what the server starts will be attributed (false: only this report is possible). */
  attributed: boolean;
  target?: string;
}

const GRACE_MS = 2000;
/** A provisional child is given up (untracked) when nothing decided it by then. */
export const HOLD_MS = 3000;
const MAX_JOBS = 1024;
const LISTENER_TTL_MS = 10_000;

/** Unix sockets of servers whose work cannot be followed from here. */
const OPAQUE_SOCKETS: Array<[RegExp, HandoffVia]> = [
  [/^\/(var\/)?run\/docker\.sock$/, 'docker'],
  [/^\/run\/user\/\d+\/docker\.sock$/, 'docker'],
  [/^\/(var\/)?run\/containerd\/containerd\.sock$/, 'containerd'],
  [/^\/(var\/)?run\/podman\/podman\.sock$/, 'podman'],
  [/^\/run\/user\/\d+\/podman\/podman\.sock$/, 'podman'],
  [/^\/run\/systemd\/private$/, 'systemd'],
  [/^\/run\/user\/\d+\/systemd\/private$/, 'systemd'],
];

const AT_JOBS = '/var/spool/cron/atjobs/';
const CRON_FILES = [/^\/var\/spool\/cron\/crontabs\/[^/]+$/, /^\/etc\/cron\.d\/[^/]+$/, /^\/etc\/crontab$/];

function commOf(pid: number): string | undefined {
  return proc.readStat(pid)?.comm;
}

function exeName(pid: number): string | undefined {
  try {
    return basename(fs.readlinkSync(`/proc/${pid}/exe`));
  } catch {
    return undefined;
  }
}

/** Which hand-off server a process is, by its executable (or comm when the exe is unreadable). */
export function serverKind(pid: number): HandoffVia | undefined {
  const exe = exeName(pid) ?? commOf(pid) ?? '';
  if (exe === 'tmux' || exe.startsWith('tmux:')) return 'tmux';
  if (exe === 'screen' || exe === 'SCREEN') return 'screen';
  if (exe === 'sshd' || exe === 'sshd-session') return 'sshd';
  return undefined;
}

/** pids whose comm is one of `names` (atd, cron...). */
function pidsNamed(names: string[]): number[] {
  const out: number[] = [];
  for (const pid of proc.listPids()) {
    const c = commOf(pid);
    if (c && names.includes(c)) out.push(pid);
  }
  return out;
}

/** Socket inodes a process holds. */
function socketInodes(pid: number): Set<number> {
  const out = new Set<number>();
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    const t = proc.readFdPath(pid, Number(fd));
    const m = t ? /^socket:\[(\d+)\]$/.exec(t) : null;
    if (m) out.add(Number(m[1]));
  }
  return out;
}

interface TcpEntry {
  localPort: number;
  remotePort: number;
  state: number;
  inode: number;
}

function tcpTable(): TcpEntry[] {
  const out: TcpEntry[] = [];
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length < 10) continue;
      const lp = parseInt(c[1]!.split(':')[1] ?? '', 16);
      const rp = parseInt(c[2]!.split(':')[1] ?? '', 16);
      out.push({ localPort: lp, remotePort: rp, state: parseInt(c[3]!, 16), inode: Number(c[9]) });
    }
  }
  return out;
}

export class Handoffs {
  private readonly windows = new Map<number, Window>();
  /** at job file name -> session id and root */
  private readonly atJobs = new Map<string, { session: string; root: number }>();
  /** crontab files written by a session -> session id and root */
  private readonly crontabs = new Map<string, { session: string; root: number }>();
  private readonly longServed = new Map<number, HandoffVia>();
  /** port -> the sshd listening on it (0: none), and when that was looked up */
  private readonly listeners = new Map<number, { pid: number; at: number }>();
  readonly counters = { handoffs: 0, handoff_attributed: 0, handoff_released: 0 };

  constructor(private readonly host: HandoffHost) {}

  /**
   * An agent process connected somewhere. Returns the hand-off it is, if any: a unix socket of
   * a tmux/screen server (the kernel gives the listening pid), a loopback port sshd listens
   * on, or the socket of a server whose work cannot be followed.
   */
  onConnect(
    client: number,
    session: { id: string; root: number },
    c: { unixPath?: string; peerPid?: number; ip?: string; port?: number; localPort?: number; family: number },
  ): Handoff | undefined {
    if (c.family === 1 && c.unixPath !== undefined) {
      for (const [re, via] of OPAQUE_SOCKETS) if (re.test(c.unixPath)) return this.report({ via, server: c.peerPid ?? 0, attributed: false, target: c.unixPath });
      const server = c.peerPid ?? this.screenPidFromPath(c.unixPath);
      if (!server) return undefined;
      const via = serverKind(server);
      if (via !== 'tmux' && via !== 'screen') return undefined;
      this.open(via, server, client, session, true);
      return this.report({ via, server, serverExe: exeName(server), attributed: true, target: c.unixPath });
    }
    if ((c.family === 2 || c.family === 10) && c.port && c.ip && (c.ip.startsWith('127.') || c.ip === '::1' || c.ip === '::ffff:127.0.0.1')) {
      const server = this.sshdListening(c.port);
      if (!server) return undefined;
      const w = this.open('sshd', server, client, session, false);
      if (c.localPort) w.clientPorts.add(c.localPort);
      else for (const p of this.localPortsTo(client, c.port)) w.clientPorts.add(p);
      return this.report({ via: 'sshd', server, serverExe: exeName(server), attributed: true, target: `${c.ip}:${c.port}` });
    }
    return undefined;
  }

  /** An agent session wrote a file: an at job or a crontab is a hand-off to atd or cron. */
  onWrite(path: string, session: { id: string; root: number }): Handoff | undefined {
    const atJobs = this.host.atJobs ?? AT_JOBS;
    if (path.startsWith(atJobs) && !path.slice(atJobs.length).includes('/') && !path.endsWith('/.SEQ')) {
      if (this.atJobs.size >= MAX_JOBS) this.atJobs.delete(this.atJobs.keys().next().value!);
      this.atJobs.set(basename(path), { session: session.id, root: session.root });
      const d = this.serveByName(['atd'], 'at', session.root);
      return this.report({ via: 'at', server: d[0] ?? 0, attributed: true, target: path });
    }
    if ((this.host.cronFiles ?? CRON_FILES).some((re) => re.test(path))) {
      if (this.crontabs.size >= MAX_JOBS) this.crontabs.delete(this.crontabs.keys().next().value!);
      this.crontabs.set(path, { session: session.id, root: session.root });
      const d = this.serveByName(['cron', 'crond'], 'cron', session.root);
      return this.report({ via: 'cron', server: d[0] ?? 0, attributed: true, target: path });
    }
    return undefined;
  }

  /** An exec of a program that hands work to systemd (systemd-run, systemctl start of a transient unit). */
  onExec(name: string): Handoff | undefined {
    if (name === 'systemd-run') return this.report({ via: 'systemd', server: 1, attributed: false, target: 'systemd-run' });
    return undefined;
  }

  /**
   * A new child of a served process: the session it belongs to now ('' with the kernel's root
   * when only the kernel saw the request: the model finds the session by its root), 'wait' when
   * that is decided by what it does next (atd, cron, an sshd child not yet holding its socket),
   * or undefined when it is not an agent's.
   */
  decideFork(child: number, parent: number, kernelRoot: number | undefined): { session: string; root: number; via: HandoffVia } | 'wait' | undefined {
    const w = this.windowOf(parent);
    if (w) {
      if (w.via !== 'sshd' || w.clientPorts.size === 0) return { session: w.session, root: w.root, via: w.via };
      // sshd: the child holding the agent's connection, found by the agent's local port
      const mine = this.holdsConnection(child, w);
      if (mine === undefined) return 'wait';
      return mine ? { session: w.session, root: w.root, via: 'sshd' } : undefined;
    }
    const long = this.longServed.get(parent);
    if (long === 'at' || long === 'cron') return 'wait';
    // the kernel marked the server when the agent's process asked (its fork came before the
    // request's record was read): a terminal server or sshd is the agent's for that moment
    const kind = serverKind(parent);
    if (kernelRoot && (kind === 'tmux' || kind === 'screen' || kind === 'sshd')) return { session: '', root: kernelRoot, via: kind };
    const comm = commOf(parent);
    if (kernelRoot && (comm === 'atd' || comm === 'cron' || comm === 'crond')) return 'wait';
    return undefined;
  }

  /** A held child of atd opened `path` (relative to its cwd, the job spool): is it an agent's job? */
  decideOpen(path: string, base: string | undefined): { session: string; root: number; via: HandoffVia } | undefined {
    const name = basename(path);
    const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/') + 1) : `${base ?? ''}/`;
    if (!dir.endsWith('atjobs/') && !`${dir}`.includes('/atjobs')) return undefined;
    const j = this.atJobs.get(name);
    return j ? { session: j.session, root: j.root, via: 'at' } : undefined;
  }

  /** A held child of cron runs a command: is it one an agent put in a crontab? */
  decideExec(argv: string[]): { session: string; root: number; via: HandoffVia } | undefined {
    const i = argv.indexOf('-c');
    const cmd = i >= 0 ? argv[i + 1] : undefined;
    if (!cmd) return undefined;
    for (const [file, s] of this.crontabs) {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      if (text.split('\n').some((l) => !l.trimStart().startsWith('#') && l.includes(cmd))) return { session: s.session, root: s.root, via: 'cron' };
    }
    return undefined;
  }

  /** A client process of a window exited: the window closes GRACE_MS later. */
  onExit(pid: number): void {
    for (const w of this.windows.values()) {
      if (w.clients.delete(pid) && w.clients.size === 0) w.until = this.host.now() + GRACE_MS;
    }
  }

  /** Closes windows whose clients are gone and whose grace has passed. */
  tick(): void {
    const now = this.host.now();
    for (const [server, w] of this.windows) {
      for (const c of w.clients) if (!proc.readStat(c)) w.clients.delete(c);
      if (w.clients.size > 0) {
        w.until = now + GRACE_MS;
        continue;
      }
      if (now < w.until) continue;
      for (const p of w.served) if (!this.longServed.has(p)) this.host.unserve(p);
      this.windows.delete(server);
      this.counters.handoff_released++;
    }
  }

  private report(h: Handoff): Handoff {
    this.counters.handoffs++;
    if (h.attributed) this.counters.handoff_attributed++;
    return h;
  }

  private open(via: HandoffVia, server: number, client: number, session: { id: string; root: number }, withDescendants: boolean): Window {
    let w = this.windows.get(server);
    if (!w || w.session !== session.id) {
      w = { via, server, session: session.id, root: session.root, clients: new Set(), until: 0, clientPorts: new Set(), served: new Set() };
      this.windows.set(server, w);
    }
    w.clients.add(client);
    w.until = this.host.now() + GRACE_MS;
    const pids = [server, ...(withDescendants ? proc.readDescendants(server, 64) : [])];
    for (const p of pids) {
      this.host.serve(p, session.root);
      w.served.add(p);
    }
    return w;
  }

  private windowOf(pid: number): Window | undefined {
    const w = this.windows.get(pid);
    if (w) return w;
    for (const x of this.windows.values()) if (x.served.has(pid)) return x;
    return undefined;
  }

  private serveByName(names: string[], via: HandoffVia, root: number): number[] {
    const pids = pidsNamed(names);
    for (const p of pids) {
      this.host.serve(p, root);
      this.longServed.set(p, via);
    }
    return pids;
  }

  /** screen names its sockets PID.name. */
  private screenPidFromPath(p: string): number | undefined {
    const m = /\/(\d+)\.[^/]+$/.exec(p);
    if (!m) return undefined;
    const pid = Number(m[1]);
    return serverKind(pid) === 'screen' ? pid : undefined;
  }

  /**
   * The sshd process listening on a local TCP port, if one is. Looked up once per port and
   * LISTENER_TTL_MS (/proc/net/tcp and every process's fds are read): an agent's test suite
   * may connect to a loopback port thousands of times a second.
   */
  private sshdListening(port: number): number | undefined {
    const now = this.host.now();
    const hit = this.listeners.get(port);
    if (hit && now - hit.at < LISTENER_TTL_MS) return hit.pid || undefined;
    if (this.listeners.size >= 4096) this.listeners.clear();
    const pid = this.lookupSshd(port) ?? 0;
    this.listeners.set(port, { pid, at: now });
    return pid || undefined;
  }

  private lookupSshd(port: number): number | undefined {
    // no sshd, no table: the TCP table holds every connection in TIME_WAIT (thousands under load)
    const sshds = pidsNamed(['sshd']);
    if (sshds.length === 0) return undefined;
    const listening = new Set(tcpTable().filter((e) => e.state === 0x0a && e.localPort === port).map((e) => e.inode));
    if (listening.size === 0) return undefined;
    for (const pid of sshds) {
      for (const ino of socketInodes(pid)) if (listening.has(ino)) return pid;
    }
    return undefined;
  }

  /** Local ports of the client's connections to `port` (when the kernel did not say). */
  private localPortsTo(client: number, port: number): number[] {
    const mine = socketInodes(client);
    return tcpTable().filter((e) => e.remotePort === port && mine.has(e.inode)).map((e) => e.localPort);
  }

  /** Whether a child of the sshd listener holds the agent's connection; undefined if it cannot be told yet. */
  private holdsConnection(child: number, w: Window): boolean | undefined {
    const held = socketInodes(child);
    if (held.size === 0) return proc.readStat(child) ? undefined : false;
    const theirs = tcpTable().filter((e) => w.clientPorts.has(e.remotePort));
    return theirs.some((e) => held.has(e.inode));
  }
}
