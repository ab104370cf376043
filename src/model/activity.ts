// One attributed process's activity records turned into events: file operations with the
// path of the file as the kernel reached it (and what the process asked for when that
// differs), a known secret named by what it is (its inode), network activity with the names
// the session resolved, privilege and namespace changes, and arguments the sensor could not
// read reported as such. The process model (process-model.ts) decides whose the process is.
import fs from 'node:fs';
import type { FileInfo, NetInfo, UnstampedEvent } from '../events/types.js';
import type { RawRecord } from '../sensors/raw.js';
import * as proc from '../sensors/procfs/proc.js';
import { interpreterScript, basename } from './agents.js';
import { decodeAnswer, decodeQuery } from './dns.js';
import type { Proc, ProcessModel } from './process-model.js';
import { absoluteArg, DirResolver, type ProcView } from './resolve.js';
import { xcallData } from './xcall.js';

const MAX_NAMES = 4096;

export interface ActivityHost {
  emitFor(p: Proc, ns: bigint, kind: string, extra: Partial<UnstampedEvent>): void;
  counters: { unresolved_paths: number };
}

type Rec<T extends RawRecord['t']> = RawRecord & { t: T };

const NSTYPES: Record<number, string> = {
  0: 'any',
  0x00020000: 'mnt',
  0x02000000: 'cgroup',
  0x04000000: 'uts',
  0x08000000: 'ipc',
  0x10000000: 'user',
  0x20000000: 'pid',
  0x40000000: 'net',
  0x00000080: 'time',
};

/** CLONE_NEW* flags by name. */
export function namespaceFlags(flags: number): string[] {
  const out: string[] = [];
  for (const [bit, name] of Object.entries(NSTYPES)) if (Number(bit) && (flags & Number(bit)) !== 0) out.push(name);
  return out;
}

const SOCKET_FAMILIES: Record<number, string> = { 1: 'unix', 2: 'inet', 10: 'inet6', 16: 'netlink', 17: 'packet' };

/**
 * Inodes of PID 1's namespaces (what "joining the host's namespace" means); where PID 1's are
 * not readable (some VMs and containers), the monitor's own, which are the host's view it watches.
 */
function initNamespaces(): Map<number, string> {
  const out = new Map<number, string>();
  for (const t of ['mnt', 'net', 'pid', 'user', 'uts', 'ipc', 'cgroup', 'time']) {
    for (const who of ['1', 'self']) {
      try {
        out.set(fs.statSync(`/proc/${who}/ns/${t}`).ino, t);
        break;
      } catch {
        /* not readable: the next */
      }
    }
  }
  return out;
}

export class ActivityMapper {
  private readonly dirs = new DirResolver();
  private initNs: Map<number, string> | undefined;
  private lastIdentityRefresh = 0;

  constructor(
    private readonly model: ProcessModel,
    private readonly host: ActivityHost,
  ) {}

  /** The script an interpreter or shell process runs, as an absolute path. */
  scriptOf(p: Proc): string | undefined {
    const name = basename(p.exe);
    const py = /^(python|pypy)[0-9.]*$/.test(name);
    if (!py && !/^(node|nodejs|bun|deno|perl|ruby|php|lua|sh|bash|dash|zsh)[0-9.]*$/.test(name)) return undefined;
    const s = interpreterScript(p.argv, py);
    if (!s || (py && p.argv.includes('-m'))) return undefined;
    return s.startsWith('/') ? s : `${p.cwd}/${s}`;
  }

  private view(p: Proc): ProcView {
    return { pid: p.pid, cwd: (pid) => (pid === p.pid ? p.cwd : this.model.proc(pid)?.cwd) };
  }

  /** The model's own idea of a directory fd (bpftrace fallback), then /proc. */
  private fdDir(p: Proc, dfd: number): string | undefined {
    if (dfd === -100) return p.cwd;
    return p.fds?.get(dfd) ?? proc.readFdPath(p.pid, dfd);
  }

  /**
   * The path a path-operation argument names: against the kernel's base (dfd, cwd, or the fd
   * itself for an empty path), through /proc links, with the parent directory's symlinks
   * resolved (the kernel writes where they lead).
   */
  private opPath(p: Proc, dfd: number, rel: string, kbase: string | undefined, unreadable?: boolean): { path: string; requested?: string } {
    if (rel === '' && !unreadable) {
      const f = kbase ?? (dfd === -100 ? undefined : this.fdDir(p, dfd));
      if (f) return { path: f };
      this.host.counters.unresolved_paths++;
      return { path: `[fd ${dfd}]` };
    }
    const typed = rel === '' ? '[unreadable]' : rel;
    const abs = absoluteArg(typed, kbase, kbase ? undefined : this.fdDir(p, dfd), this.view(p));
    if (!abs) {
      this.host.counters.unresolved_paths++;
      return { path: `[fd ${dfd}]/${typed}` };
    }
    const real = this.dirs.realParent(abs);
    return real === abs ? { path: abs } : { path: real, requested: abs };
  }

  onActivity(p: Proc, r: RawRecord): void {
    switch (r.t) {
      case 'open':
        return this.open(p, r);
      case 'frename':
      case 'unlink':
      case 'symlink':
      case 'link':
      case 'truncate':
      case 'chmod':
      case 'chown':
      case 'setxattr':
      case 'mkdir':
      case 'utimes':
        return this.pathOp(p, r);
      case 'lookup':
        return this.lookup(p, r);
      case 'chdir':
      case 'fchdir':
        return this.cwd(p, r);
      case 'rename': {
        const old = p.comm;
        p.comm = r.comm;
        return this.host.emitFor(p, r.ns, 'process.rename', { data: { old_comm: old, new_comm: r.comm } });
      }
      case 'connect':
        return this.connect(p, r);
      case 'send':
        return this.send(p, r);
      case 'dns_answer':
        return this.dnsAnswer(p, r);
      case 'bind':
        return this.host.emitFor(p, r.ns, 'net.bind', {
          net: { proto: r.socktype === 1 ? 'tcp' : r.socktype === 2 ? 'udp' : 'other', family: r.family === 10 ? 'inet6' : 'inet', local_ip: r.ip, local_port: r.port },
        });
      case 'listen':
        return this.host.emitFor(p, r.ns, 'net.listen', { net: { proto: r.socktype === 1 ? 'tcp' : 'other', local_port: r.port }, data: { backlog: r.backlog } });
      case 'socket':
        return this.socket(p, r);
      case 'clock':
        return this.clock(p, r);
      case 'setid':
      case 'setns':
      case 'unshare':
      case 'userfaultfd':
      case 'ptrace':
      case 'memfd':
      case 'io_uring':
      case 'bpf':
        return this.privilege(p, r);
      case 'xcall': {
        const x = xcallData(r, (path) => absoluteArg(path, undefined, p.cwd, this.view(p)) ?? path);
        return this.host.emitFor(p, r.ns, 'process.syscall', { data: x.data, message: x.message });
      }
      case 'repeat':
        return this.host.emitFor(p, r.ns, 'file.repeat', {
          // the file the kernel counted (another thread may have opened something since)
          file: (r.ino !== undefined && p.recentOpens?.get(`${r.dev}:${r.ino}`)) || p.lastOpen || { path: '[unknown]', op: 'read' },
          data: { count: r.count },
        });
      case 'fd':
        return this.fileEvent(p, r, 'file.open', { path: r.path, op: r.write ? 'write' : 'read', flags: [r.write ? 'write' : 'read'] });
    }
  }

  // ---- files ----------------------------------------------------------------------------

  private open(p: Proc, r: Rec<'open'>): void {
    const flags = r.flags;
    const acc = flags & 3;
    const list: NonNullable<FileInfo['flags']> = [];
    if (acc === 0 || acc === 2) list.push('read');
    if (acc === 1 || acc === 2) list.push('write');
    if (flags & 0x40) list.push('create');
    if (flags & 0x200) list.push('truncate');
    if (flags & 0x400) list.push('append');
    if (flags & 0x10000) list.push('directory');
    const op = flags & 0x40 ? 'create' : flags & 0x200 ? 'truncate' : acc !== 0 ? 'write' : 'read';
    // What the file is: the kernel's path of the file it opened; what the process asked for
    // only when that says something else (a symlink, /proc/self/root, a dup'ed directory fd).
    let path = r.kpath;
    let requested: string | undefined;
    if (!path || r.path !== path) {
      const typed = r.unreadable && r.path === '' ? '[unreadable]' : r.path;
      // relative to a directory fd the kernel did not name: only worth guessing without its path
      const guess = !path || typed.startsWith('/') || r.dfd === -100 || r.base;
      requested = guess ? absoluteArg(typed, r.base, r.base ? undefined : this.fdDir(p, r.dfd), this.view(p)) : undefined;
      if (!requested && !path) {
        this.host.counters.unresolved_paths++;
        requested = `[fd ${r.dfd}]/${typed}`;
      }
      path ??= requested!;
    }
    const file: FileInfo = { path, op, flags: list };
    // A known secret (or persistence file) by device and inode: named by what it is, however reached.
    if (r.protected || r.dev) {
      const known = this.model.identity.lookup(r.dev, r.ino, r.ns);
      if (known && known.path !== path) {
        file.path = known.path;
        file.identified_by = 'inode';
        if (path !== requested) file.resolved = path;
        requested ??= path;
      } else if (r.protected && !known) this.refreshIdentity();
    }
    if (requested !== undefined && requested !== file.path) file.requested = requested;
    if (r.ret < 0) file.ret = r.ret;
    else {
      this.model.rememberFd(p, r.ret, file.path);
      p.lastOpen = file;
      if (r.dev !== undefined && r.ino !== undefined && !r.replaced) {
        const m = (p.recentOpens ??= new Map());
        const key = `${r.dev}:${r.ino}`;
        m.delete(key); // most recent last: the oldest goes first
        m.set(key, file);
        if (m.size > 8) m.delete(m.keys().next().value!);
      }
    }
    if (flags & 0x40) file.mode = r.mode;
    if (r.ret >= 0 && op !== 'read') this.wrote(p, r.ns, file.path);
    const data: Record<string, unknown> = {};
    if (r.truncated) data.path_truncated = true;
    if (r.unreadable) data.unreadable_args = ['path'];
    if (r.watched) data.watched_name = true;
    // another file at the descriptor (the kernel's identity is that file's), or none at all: the
    // path is then only the string the process gave, which another thread can rewrite
    if (r.replaced) data.fd_replaced = r.closed ? 'closed' : true;
    this.host.emitFor(p, r.ns, 'file.open', Object.keys(data).length ? { file, data } : { file });
  }

  /** An agent session wrote `path`: remembered (tool trust), and a job file is a hand-off. */
  private wrote(p: Proc, ns: bigint, path: string): void {
    const s = p.session!;
    this.model.authored.wrote(path, s.id);
    const h = this.model.handoffs.onWrite(path, { id: s.id, root: s.rootPid });
    if (h) this.model.emitHandoff(p, ns, h);
  }

  private refreshIdentity(): void {
    const now = Date.now();
    if (now - this.lastIdentityRefresh < 2000) return;
    this.lastIdentityRefresh = now;
    this.model.identity.refresh();
  }

  private pathOp(p: Proc, r: Rec<'frename' | 'unlink' | 'symlink' | 'link' | 'truncate' | 'chmod' | 'chown' | 'setxattr' | 'mkdir' | 'utimes'>): void {
    let kind: string;
    let file: FileInfo;
    let extra: Record<string, unknown> | undefined;
    let written: string | undefined;
    switch (r.t) {
      case 'frename': {
        const to = this.opPath(p, r.newdfd, r.newpath, r.base, r.unreadable);
        const from = this.opPath(p, r.olddfd, r.oldpath, r.base2, r.unreadable);
        kind = 'file.rename';
        file = { path: to.path, src: from.path, op: 'rename' };
        if (to.requested) file.requested = to.requested;
        written = to.path;
        break;
      }
      case 'unlink': {
        const t = this.opPath(p, r.dfd, r.path, r.base, r.unreadable);
        kind = 'file.unlink';
        file = { path: t.path, op: r.flags & 0x200 ? 'rmdir' : 'unlink' };
        if (t.requested) file.requested = t.requested;
        break;
      }
      case 'symlink': {
        const t = this.opPath(p, r.newdfd, r.path, r.base, r.unreadable);
        kind = 'file.symlink';
        file = { path: t.path, target: r.target, op: 'symlink' };
        if (t.requested) file.requested = t.requested;
        // what the link points at, as a path (relative targets are relative to the link's directory)
        const dir = t.path.slice(0, t.path.lastIndexOf('/')) || '/';
        const tgt = absoluteArg(r.target, dir, undefined, this.view(p));
        if (tgt) extra = { target_path: tgt };
        written = t.path;
        break;
      }
      case 'link': {
        const to = this.opPath(p, r.newdfd, r.path, r.base, r.unreadable);
        const from = this.opPath(p, r.olddfd, r.oldpath, r.base2, r.unreadable);
        kind = 'file.link';
        file = { path: to.path, src: from.path, op: 'link' };
        if (to.requested) file.requested = to.requested;
        written = to.path;
        break;
      }
      case 'truncate': {
        const t = this.opPath(p, r.fd, r.path, r.base, r.unreadable);
        kind = 'file.truncate';
        file = { path: t.path, op: 'truncate' };
        if (t.requested) file.requested = t.requested;
        written = t.path;
        break;
      }
      case 'chmod': {
        const t = this.opPath(p, r.dfd, r.path, r.base, r.unreadable);
        kind = 'file.chmod';
        file = { path: t.path, op: 'chmod', mode: r.mode };
        if (t.requested) file.requested = t.requested;
        written = t.path;
        break;
      }
      case 'chown': {
        const t = this.opPath(p, r.dfd, r.path, r.base, r.unreadable);
        kind = 'file.chown';
        file = { path: t.path, op: 'chown' };
        if (t.requested) file.requested = t.requested;
        extra = { uid: r.uid, gid: r.gid };
        break;
      }
      case 'setxattr': {
        const t = this.opPath(p, r.fd, r.path, r.base, r.unreadable);
        kind = 'file.setxattr';
        file = { path: t.path, op: 'setxattr', xattr: r.name };
        if (t.requested) file.requested = t.requested;
        break;
      }
      case 'mkdir': {
        if (r.ret === -17) return; // EEXIST: `mkdir -p` over existing parents
        const t = this.opPath(p, r.dfd, r.path, r.base, r.unreadable);
        kind = 'file.mkdir';
        file = { path: t.path, op: 'mkdir', mode: r.mode };
        if (t.requested) file.requested = t.requested;
        break;
      }
      case 'utimes': {
        const t = this.opPath(p, r.dfd, r.path, r.base, r.unreadable);
        kind = 'file.utimes';
        file = { path: t.path, op: 'utimes' };
        if (t.requested) file.requested = t.requested;
        break;
      }
    }
    if (r.ret !== undefined && r.ret < 0) file.ret = r.ret;
    else if (written) this.wrote(p, r.ns, written);
    const data: Record<string, unknown> = { ...extra };
    if (r.truncated) data.path_truncated = true;
    if (r.unreadable) data.unreadable_args = ['path'];
    this.host.emitFor(p, r.ns, kind, Object.keys(data).length ? { file, data } : { file });
  }

  private lookup(p: Proc, r: Rec<'lookup'>): void {
    const t = this.opPath(p, r.dfd, r.path, r.base, r.unreadable);
    const file: FileInfo = { path: t.path, op: 'lookup', ret: r.ret };
    if (t.requested) file.requested = t.requested;
    this.host.emitFor(p, r.ns, 'file.lookup', { file, data: { call: r.call, watched_name: true } });
  }

  private cwd(p: Proc, r: Rec<'chdir' | 'fchdir'>): void {
    let cwd: string | undefined;
    if (r.kcwd) cwd = r.kcwd;
    else if (r.t === 'chdir') cwd = absoluteArg(r.path, undefined, p.cwd, this.view(p));
    // What the process opened at that fd is the truth; /proc is read later and may
    // already show a later cwd (or nothing, once the process exited).
    else cwd = p.fds?.get(r.fd) ?? proc.readFdPath(p.pid, r.fd) ?? proc.readCwd(p.pid);
    if (!cwd) return;
    p.cwd = cwd;
    p.ref = undefined;
    this.model.noteCwd(p, cwd);
  }

  private fileEvent(p: Proc, r: RawRecord, kind: string, file: FileInfo): void {
    if ('truncated' in r && r.truncated) this.host.emitFor(p, r.ns, kind, { file, data: { path_truncated: true } });
    else this.host.emitFor(p, r.ns, kind, { file });
  }

  // ---- network ----------------------------------------------------------------------------

  private connect(p: Proc, r: Rec<'connect'>): void {
    let net: NetInfo;
    const data: Record<string, unknown> = {};
    if (r.family === 1) {
      net = { proto: 'unix', family: 'unix', path: r.abstract ? `@${r.unixPath ?? ''}` : (absoluteArg(r.unixPath ?? '', undefined, p.cwd, this.view(p)) ?? r.unixPath ?? '') };
      if (r.peerPid) data.peer_pid = r.peerPid;
    } else if (r.family === 2 || r.family === 10) {
      const host = p.session!.names.get(r.ip ?? '');
      net = {
        proto: r.socktype === 1 ? 'tcp' : r.socktype === 2 ? 'udp' : r.socktype === 3 ? 'raw' : 'other',
        family: r.family === 2 ? 'inet' : 'inet6',
        dst_ip: r.ip,
        dst_port: r.port,
        ...(host ? { host } : {}),
      };
      if (r.localPort) net.local_port = r.localPort;
    } else if (r.unreadable) {
      // the destination could not be read: still an event (the kernel's own copy was empty too)
      net = { proto: r.socktype === 1 ? 'tcp' : r.socktype === 2 ? 'udp' : 'other' };
    } else return;
    if (r.unreadable) data.unreadable_args = ['sockaddr'];
    if (r.ret !== undefined && r.ret < 0 && r.ret !== -115) data.ret = r.ret;
    this.host.emitFor(p, r.ns, 'net.connect', Object.keys(data).length ? { net, data } : { net });
    const s = p.session!;
    const h = this.model.handoffs.onConnect(p.pid, { id: s.id, root: s.rootPid }, {
      family: r.family,
      unixPath: r.family === 1 ? net.path : undefined,
      peerPid: r.peerPid,
      ip: r.ip,
      port: r.port,
      localPort: r.localPort,
    });
    if (h) this.model.emitHandoff(p, r.ns, h);
  }

  private send(p: Proc, r: Rec<'send'>): void {
    const net: NetInfo = { proto: 'udp', family: r.family === 10 ? 'inet6' : 'inet', dst_ip: r.ip, dst_port: r.port, bytes: r.len };
    if (r.port === 53 && r.payload) {
      const q = decodeQuery(r.payload);
      if (q) {
        return this.host.emitFor(p, r.ns, 'net.dns', {
          net,
          dns: { query: q.name, qtype: q.qtype, server: r.ip, server_port: r.port },
        });
      }
      const data: Record<string, unknown> = { undecodable_dns: true, payload_hex: r.payload.subarray(0, 64).toString('hex') };
      if (r.unreadable || r.payload.length === 0) data.unreadable_args = ['payload'];
      return this.host.emitFor(p, r.ns, 'net.send', { net, data });
    }
    const host = r.ip ? p.session!.names.get(r.ip) : undefined;
    if (host) net.host = host;
    if (r.unreadable) return this.host.emitFor(p, r.ns, 'net.send', { net, data: { unreadable_args: ['sockaddr'] } });
    this.host.emitFor(p, r.ns, 'net.send', { net });
  }

  private dnsAnswer(p: Proc, r: Rec<'dns_answer'>): void {
    const a = decodeAnswer(r.payload);
    if (!a) return;
    const names = p.session!.names;
    for (const { ip } of a.addresses) {
      if (names.size >= MAX_NAMES) names.delete(names.keys().next().value!);
      // Attribute the address to the name the process asked for (CNAME chains collapse).
      names.set(ip, a.name);
    }
    this.host.emitFor(p, r.ns, 'net.dns_answer', {
      dns: { query: a.name, qtype: a.qtype, rcode: a.rcode, answers: a.addresses.map((x) => x.ip), ...(r.srcIp ? { server: r.srcIp } : {}) },
    });
  }

  private socket(p: Proc, r: Rec<'socket'>): void {
    const ty = r.type & 0xf;
    const kind = r.family === 17 || ty === 10 ? 'packet' : 'raw';
    this.host.emitFor(p, r.ns, 'net.socket', {
      net: { proto: 'raw', family: r.family === 2 ? 'inet' : r.family === 10 ? 'inet6' : 'other' },
      data: { socket: kind, family: SOCKET_FAMILIES[r.family] ?? `af_${r.family}`, type: ty, protocol: r.protocol, ret: r.ret },
      message: `${kind} socket (${SOCKET_FAMILIES[r.family] ?? r.family}) ${r.ret >= 0 ? 'opened' : `refused (${r.ret})`}`,
    });
  }

  // ---- privileges, namespaces, exploit primitives --------------------------------------------

  /** The system clock set or adjusted: file times (and what trusts them) follow it. */
  private clock(p: Proc, r: Rec<'clock'>): void {
    const stepMs = Math.round(r.stepNs / 1e6);
    const modes = r.modes === undefined ? {} : r.modes === -1 ? { modes_unreadable: true } : { modes: r.modes };
    this.host.emitFor(p, r.ns, 'process.clock', {
      data: { call: r.call, clock: CLOCK_IDS[r.clock] ?? r.clock, ...modes, sets: r.sets, step_ms: stepMs, ret: r.ret },
      message: `${r.call}(${CLOCK_IDS[r.clock] ?? r.clock}) = ${r.ret}${stepMs ? `: the clock moved ${stepMs} ms` : r.sets ? ' (sets the clock)' : ''}`,
    });
  }

  private privilege(p: Proc, r: Rec<'setid' | 'setns' | 'unshare' | 'userfaultfd' | 'ptrace' | 'memfd' | 'io_uring' | 'bpf'>): void {
    switch (r.t) {
      case 'setid': {
        // full root from a process whose real or effective user was another (a setuid-root binary
        // run by a user starts with euid 0 and uid of the user)
        const gained = r.ret === 0 && r.before !== undefined && r.after !== undefined && r.after.euid === 0 && r.after.uid === 0 && (r.before.euid !== 0 || r.before.uid !== 0);
        return this.host.emitFor(p, r.ns, 'process.setid', {
          data: { call: r.call, args: r.args, ret: r.ret, ...(r.before ? { before: r.before } : {}), ...(r.after ? { after: r.after } : {}), gained_root: gained },
          message: `${r.call}(${r.args.join(', ')}) = ${r.ret}${r.after ? ` (now uid ${r.after.uid}, euid ${r.after.euid})` : ''}`,
        });
      }
      case 'setns': {
        this.initNs ??= initNamespaces();
        const host = r.nsInode !== undefined ? this.initNs.get(r.nsInode) : undefined;
        return this.host.emitFor(p, r.ns, 'process.setns', {
          data: { fd: r.fd, nstype: NSTYPES[r.nstype] ?? r.nstype, ret: r.ret, ns_inode: r.nsInode, pidfd: r.fsMagic === 0x09041934 || undefined, init_namespace: host },
          message: `setns(${r.fd}, ${NSTYPES[r.nstype] ?? r.nstype}) = ${r.ret}${host ? ` into PID 1's ${host} namespace` : ''}`,
        });
      }
      case 'unshare':
        return this.host.emitFor(p, r.ns, 'process.unshare', {
          data: { namespaces: namespaceFlags(r.flags), flags: r.flags, ret: r.ret, via: r.via },
          message: `${r.via}: new ${namespaceFlags(r.flags).join(', ')} namespace(s) = ${r.ret}`,
        });
      case 'userfaultfd':
        return this.host.emitFor(p, r.ns, 'process.userfaultfd', { data: { flags: r.flags, ret: r.ret } });
      case 'ptrace':
        return this.host.emitFor(p, r.ns, 'process.ptrace', {
          data: { request: r.request, request_name: PTRACE_REQUESTS[r.request] ?? `request_${r.request}`, target_pid: r.target },
        });
      case 'memfd':
        return this.host.emitFor(p, r.ns, 'process.memfd', { data: { name: r.name, flags: r.flags } });
      case 'io_uring':
        return this.host.emitFor(p, r.ns, 'process.io_uring', { data: { op: 'setup', entries: r.entries } });
      case 'bpf':
        return this.host.emitFor(p, r.ns, 'process.bpf', { data: { cmd: r.cmd, cmd_name: BPF_CMDS[r.cmd] ?? `cmd_${r.cmd}` } });
    }
  }
}

/** bpf() commands by number (include/uapi/linux/bpf.h). */
const BPF_CMDS: Record<number, string> = {
  0: 'MAP_CREATE', 1: 'MAP_LOOKUP_ELEM', 2: 'MAP_UPDATE_ELEM', 3: 'MAP_DELETE_ELEM', 4: 'MAP_GET_NEXT_KEY', 5: 'PROG_LOAD',
  6: 'OBJ_PIN', 7: 'OBJ_GET', 8: 'PROG_ATTACH', 9: 'PROG_DETACH', 10: 'PROG_TEST_RUN', 11: 'PROG_GET_NEXT_ID',
  12: 'MAP_GET_NEXT_ID', 13: 'PROG_GET_FD_BY_ID', 14: 'MAP_GET_FD_BY_ID', 15: 'OBJ_GET_INFO_BY_FD', 16: 'PROG_QUERY',
  17: 'RAW_TRACEPOINT_OPEN', 18: 'BTF_LOAD', 19: 'BTF_GET_FD_BY_ID', 20: 'TASK_FD_QUERY', 21: 'MAP_LOOKUP_AND_DELETE_ELEM',
  22: 'MAP_FREEZE', 23: 'BTF_GET_NEXT_ID', 24: 'MAP_LOOKUP_BATCH', 25: 'MAP_LOOKUP_AND_DELETE_BATCH', 26: 'MAP_UPDATE_BATCH',
  27: 'MAP_DELETE_BATCH', 28: 'LINK_CREATE', 29: 'LINK_UPDATE', 30: 'LINK_GET_FD_BY_ID', 31: 'LINK_GET_NEXT_ID',
  32: 'ENABLE_STATS', 33: 'ITER_CREATE', 34: 'LINK_DETACH', 35: 'PROG_BIND_MAP', 36: 'TOKEN_CREATE',
};

/** clockid_t values (include/uapi/linux/time.h). */
const CLOCK_IDS: Record<number, string> = { 0: 'realtime', 1: 'monotonic', 4: 'monotonic_raw', 7: 'boottime', 8: 'realtime_alarm', 11: 'tai' };

const PTRACE_REQUESTS: Record<number, string> = {
  0: 'TRACEME',
  1: 'PEEKTEXT',
  2: 'PEEKDATA',
  4: 'POKETEXT',
  5: 'POKEDATA',
  13: 'SETREGS',
  16: 'ATTACH',
  17: 'DETACH',
  0x4206: 'SEIZE',
};
