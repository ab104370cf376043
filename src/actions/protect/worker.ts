// The decision thread of kernel-refused reads. It waits on the fanotify group (bounded poll,
// so it can always stop), answers each permission event at once — refused when the opening
// process is in one of this monitor's agent session cgroups (or descends from an agent root
// the main thread named), allowed otherwise — and only then reports refusals to the main
// thread. Each decision is published in shared memory before it is made, so the main
// thread's watchdog can answer in its place (fail-open) when a decision takes too long.
import fs from 'node:fs';
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { FAN, loadFanotify, O_CLOEXEC, O_RDONLY, POLLIN, response } from './fanotify.js';
import { C, type WorkerData, type WorkerNote } from './shared.js';

const d = workerData as WorkerData;
const fan = loadFanotify()!;
const ctrl = new Int32Array(d.ctrl);
const since = new BigInt64Array(d.since);
const port = d.port as MessagePort;
const notes = d.notes as MessagePort;

const pfd = Buffer.alloc(8);
pfd.writeInt32LE(d.fd, 0);
pfd.writeInt16LE(POLLIN, 4);
const buf = Buffer.alloc(64 * 24);
const resp = Buffer.alloc(8);
const cgBuf = Buffer.alloc(4096);
const marker = '/warden.governor/';

/** Agent roots whose sessions have no cgroup of ours: their descendants are found by ancestry. */
const roots = new Set<number>();
let gen = 0;

function takeMessages(): void {
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
    const msg = m.message as { roots?: number[] };
    if (msg.roots) {
      roots.clear();
      for (const r of msg.roots) roots.add(r);
    }
  }
}

/** The session directory the process is in (one of ours), or undefined. */
function sessionOf(pid: number): string | undefined {
  const fd = fan.open(`/proc/${pid}/cgroup`, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    Atomics.add(ctrl, C.ERRORS, 1);
    return undefined;
  }
  const n = fan.read(fd, cgBuf, cgBuf.length);
  fan.close(fd);
  if (n <= 0) return undefined;
  const text = cgBuf.toString('latin1', 0, n);
  let i = text.indexOf(marker);
  while (i >= 0) {
    const lineStart = text.lastIndexOf('\n', i) + 1;
    const colon = text.indexOf(':', text.indexOf(':', lineStart) + 1);
    const p = text.slice(colon + 1, i + marker.length);
    if (d.ownDirs.includes(p)) {
      const end = text.indexOf('/', i + marker.length);
      const nl = text.indexOf('\n', i + marker.length);
      return text.slice(i + marker.length, end >= 0 && (nl < 0 || end < nl) ? end : nl >= 0 ? nl : text.length);
    }
    i = text.indexOf(marker, i + 1);
  }
  return undefined;
}

function ancestorRoot(pid: number): number | undefined {
  let cur = pid;
  for (let i = 0; i < 64 && cur > 1; i++) {
    if (roots.has(cur)) return cur;
    try {
      const s = fs.readFileSync(`/proc/${cur}/stat`, 'latin1');
      cur = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function describe(pid: number): Pick<WorkerNote, 'argv' | 'exe' | 'ppid' | 'uid'> {
  const out: Pick<WorkerNote, 'argv' | 'exe' | 'ppid' | 'uid'> = {};
  try {
    out.argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter((a, i, all) => a !== '' || i < all.length - 1);
    out.exe = fs.readlinkSync(`/proc/${pid}/exe`);
    const st = fs.readFileSync(`/proc/${pid}/status`, 'latin1');
    out.ppid = Number(/^PPid:\s+(\d+)/m.exec(st)?.[1]);
    out.uid = Number(/^Uid:\s+(\d+)/m.exec(st)?.[1]);
  } catch {
    /* gone already */
  }
  return out;
}

function decide(pid: number): { verdict: number; session?: string; root?: number } {
  if (pid === d.selfPid) return { verdict: FAN.ALLOW };
  const session = sessionOf(pid);
  if (session !== undefined) return { verdict: FAN.DENY, session };
  if (roots.size) {
    const root = ancestorRoot(pid);
    if (root !== undefined) return { verdict: FAN.DENY, root };
  }
  return { verdict: FAN.ALLOW };
}

/** Waits (bounded) until the watchdog finished answering a claimed event. */
function waitClaimed(g: number): void {
  for (let i = 0; i < 100 && Atomics.load(ctrl, C.DONE) !== g; i++) Atomics.wait(ctrl, C.DONE, Atomics.load(ctrl, C.DONE), 10);
}

function handle(efd: number, pid: number): void {
  gen = gen >= 0x7ffffff0 ? 1 : gen + 1;
  const g = gen;
  Atomics.store(since, 0, BigInt(Date.now()));
  Atomics.store(ctrl, C.FD, efd);
  Atomics.store(ctrl, C.GEN, g);
  let r: ReturnType<typeof decide>;
  try {
    if (d.testDelayMs) Atomics.wait(ctrl, C.STOP, 0, d.testDelayMs);
    r = decide(pid);
  } catch {
    Atomics.add(ctrl, C.ERRORS, 1);
    r = { verdict: FAN.ALLOW };
  }
  // Who is refused, read while the process still waits on us (it exits right after a refusal).
  const who = r.verdict === FAN.DENY ? describe(pid) : undefined;
  if (Atomics.compareExchange(ctrl, C.GEN, g, 0) === g) {
    fan.write(d.fd, response(resp, efd, r.verdict), 8);
    Atomics.add(ctrl, r.verdict === FAN.DENY ? C.DENIED : C.ALLOWED, 1);
  } else {
    // The watchdog answered (allowed) in our place: it is reported there.
    waitClaimed(g);
    Atomics.store(ctrl, C.GEN, 0);
    r = { verdict: FAN.ALLOW };
  }
  if (r.verdict === FAN.DENY) {
    let path = '';
    try {
      path = fs.readlinkSync(`/proc/self/fd/${efd}`);
    } catch {
      /* unknown */
    }
    const note: WorkerNote = { pid, path, session: r.session, root: r.root, ts: Date.now(), ...who };
    notes.postMessage(note);
  }
  fan.close(efd);
}

function loop(): void {
  while (Atomics.load(ctrl, C.STOP) === 0) {
    Atomics.add(ctrl, C.ALIVE, 1);
    takeMessages();
    const pr = fan.poll(pfd, 1, 100);
    if (pr <= 0) continue;
    const n = fan.read(d.fd, buf, buf.length);
    if (n <= 0) {
      // EAGAIN (another reader won) or the group is gone (replaced by /dev/null: read 0).
      if (n === 0) break;
      continue;
    }
    for (let off = 0; off + FAN.METADATA_LEN <= n; ) {
      const len = buf.readUInt32LE(off);
      const efd = buf.readInt32LE(off + 16);
      const pid = buf.readInt32LE(off + 20);
      if (len < FAN.METADATA_LEN) break;
      if (efd >= 0) handle(efd, pid);
      off += len;
    }
  }
}

loop();
