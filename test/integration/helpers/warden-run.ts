// Helpers for `warden run` integration tests: run the built CLI (bin/warden) as root or as
// an unprivileged user (setpriv to nobody), in temporary workspaces and homes.
import { spawn, type StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEventLine } from '../../../src/events/schema.js';
import type { WardenEvent } from '../../../src/events/types.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const WARDEN = path.join(REPO, 'bin/warden');
export const NOBODY = 65534;
/** A normal user without a passwd entry: owner of "a user's workspace" in identity tests. */
export const USER_UID = 4242;
export const PY = '/usr/bin/python3';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOpts {
  cwd: string;
  env?: Record<string, string | undefined>;
  input?: string;
  /** Run Warden itself as this uid (setpriv, cleared groups). */
  uid?: number;
  timeoutMs?: number;
  /** Extra descriptors for the Warden process (stdio slots 3+). */
  extraStdio?: StdioOptions extends Array<infer T> ? T[] : never;
  /** Called with the Warden process once spawned (to signal it). */
  onSpawn?: (pid: number) => void;
}

export function suffix(): string {
  return `${process.pid.toString(36)}${Math.floor(Math.random() * 36 ** 5).toString(36)}`;
}

/** Runs any command (used for warden and for controls outside the sandbox). */
export function run(argv: string[], o: RunOpts): Promise<RunResult> {
  const full = o.uid !== undefined ? ['setpriv', `--reuid=${o.uid}`, `--regid=${o.uid}`, '--clear-groups', '--', ...argv] : argv;
  return new Promise((resolve) => {
    // WARDEN_FAST=0 in the test's environment: every run takes the Node path (the suites run both ways).
    const fast = process.env.WARDEN_FAST !== undefined ? { WARDEN_FAST: process.env.WARDEN_FAST } : {};
    // Supervisors started by the suite go away 30 s after their last run, not the default 120 s.
    const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', WARDEN_SUPERVISOR_IDLE_MS: '30000', ...fast, ...o.env };
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
    const child = spawn(full[0]!, full.slice(1), {
      cwd: o.cwd,
      env: env as NodeJS.ProcessEnv,
      stdio: ['pipe', 'pipe', 'pipe', ...(o.extraStdio ?? [])],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.stdin!.on('error', () => {});
    child.stdin!.end(o.input ?? '');
    const t = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    o.onSpawn?.(child.pid!);
    child.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export function warden(args: string[], o: RunOpts): Promise<RunResult> {
  return run([WARDEN, ...args], o);
}

/** `warden run [--policy] -- sh -c SCRIPT`. */
export function sandboxSh(script: string, o: RunOpts & { policy?: string; audit?: string; network?: string }): Promise<RunResult> {
  const a = ['run'];
  if (o.policy) a.push('--policy', o.policy);
  if (o.audit) a.push('--audit', o.audit);
  if (o.network) a.push('--network', o.network);
  return warden([...a, '--', '/bin/sh', '-c', script], o);
}

export interface Scratch {
  root: string;
  ws: string;
  home: string;
  outside: string;
  /** Writes a file (creating directories), owned by `owner` when set. */
  write(rel: string, content: string): string;
  policy(yaml: string): string;
  cleanup(): void;
}

/**
 * Scratch trees live outside /tmp and /var/tmp: those are private, empty tmpfs mounts inside
 * the sandbox, so a test HOME there would look empty (and writable) for the wrong reason.
 */
export const SCRATCH_BASE = '/var/lib/warden-it';

/** A temp tree: workspace, home and a directory outside both; owned by `owner`. */
export function scratch(owner?: number): Scratch {
  fs.mkdirSync(SCRATCH_BASE, { recursive: true, mode: 0o755 });
  fs.chmodSync(SCRATCH_BASE, 0o755);
  const root = fs.realpathSync(fs.mkdtempSync(path.join(SCRATCH_BASE, 'run-')));
  const s: Scratch = {
    root,
    ws: path.join(root, 'ws'),
    home: path.join(root, 'home'),
    outside: path.join(root, 'outside'),
    write(rel, content) {
      const p = path.isAbsolute(rel) ? rel : path.join(root, rel);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, content);
      if (owner !== undefined) chownUp(p, root, owner);
      return p;
    },
    policy(yaml) {
      const p = path.join(root, `policy-${suffix()}.yaml`);
      fs.writeFileSync(p, yaml);
      fs.chmodSync(p, 0o644);
      return p;
    },
    cleanup() {
      fs.rmSync(root, { recursive: true, force: true });
      try {
        fs.rmdirSync(SCRATCH_BASE); // only when no other suite still uses it
      } catch {
        /* not empty */
      }
    },
  };
  for (const d of [s.ws, s.home, s.outside]) fs.mkdirSync(d, { recursive: true });
  fs.chmodSync(root, 0o755);
  if (owner !== undefined) for (const d of [root, s.ws, s.home, s.outside]) fs.chownSync(d, owner, owner);
  return s;
}

function chownUp(p: string, stop: string, owner: number): void {
  let cur = p;
  while (cur.startsWith(stop) && cur !== stop) {
    fs.chownSync(cur, owner, owner);
    cur = path.dirname(cur);
  }
}

export function readEvents(file: string): WardenEvent[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const r = parseEventLine(l);
      if (!r.ok) throw new Error(`invalid event line: ${r.error}: ${l}`);
      return r.event;
    });
}

/** What a sandbox with this id left on the host: cgroups, crash record, run dir, netns. */
export function residueOf(id: string, xdgDirs: string[] = []): string[] {
  const out: string[] = [];
  const scan = (dir: string, depth: number) => {
    let ents: fs.Dirent[];
    try {
      ents = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (e.name === `warden-${id}`) out.push(p);
      else if (depth > 0 && !e.name.startsWith('warden-')) scan(p, depth - 1);
    }
  };
  scan('/sys/fs/cgroup', 4);
  for (const d of ['/run/warden/sandboxes', `/tmp/warden-${NOBODY}/sandboxes`, ...xdgDirs.map((x) => path.join(x, 'warden/sandboxes'))])
    try {
      for (const n of fs.readdirSync(d)) if (n.startsWith(id)) out.push(path.join(d, n));
    } catch {
      /* none */
    }
  // A handle file counts while a namespace is mounted on it (an unmounted one stays a minute: util/mounts.ts).
  const mounted = new Set(fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]));
  for (const d of ['/run/netns', '/run/warden/netns'])
    try {
      for (const n of fs.readdirSync(d)) if (n.includes(id) && mounted.has(`${d}/${n}`)) out.push(`${d}/${n}`);
    } catch {
      /* none */
    }
  return out.sort();
}

/**
 * The residue once the run's teardown had time to finish: the fast path's supervisor removes
 * a run's record, run directory and views after it has answered the launcher (so `warden run`
 * may return a few milliseconds before they are gone). Polls for at most 10 s.
 */
/**
 * Whether mount point `p` is one of a live supervisor's shared views (kept for its cached plan
 * beyond the run, by design: src/sandbox/shared-views.ts), not something a run left.
 */
export function heldBySupervisor(p: string): boolean {
  const m = /^\/run\/warden\/mnt\/([a-z0-9]+)\//.exec(p);
  if (!m) return false;
  try {
    const [pid] = fs.readFileSync(`/run/warden/mnt/.owners/${m[1]}`, 'utf8').trim().split(' ');
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('supervisor');
  } catch {
    return false;
  }
}

export async function residueAfter(id: string, xdgDirs: string[] = []): Promise<string[]> {
  for (let i = 0; i < 200; i++) {
    const left = residueOf(id, xdgDirs);
    if (left.length === 0) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
  return residueOf(id, xdgDirs);
}

export function sandboxId(events: WardenEvent[]): string {
  const id = events.find((e) => e.kind === 'sandbox.start')?.sandbox?.id;
  if (!id) throw new Error('no sandbox.start event');
  return id;
}

/**
 * Where the launcher is built and the fast path is on: one run to start the caller's supervisor,
 * then waits (bounded) for its socket, so every later run of the suite goes through the launcher.
 */
export async function warmFastPath(o: RunOpts): Promise<void> {
  if (process.env.WARDEN_FAST === '0' || !fs.existsSync(path.join(REPO, 'native/build/warden-launch'))) return;
  await warden(['run', '--', 'true'], o);
  const uid = o.uid ?? 0;
  const xdg = o.env?.XDG_RUNTIME_DIR;
  const dir = xdg ? path.join(xdg, 'warden') : uid === 0 ? '/run/warden' : `/tmp/warden-${uid}`;
  const found = () => {
    try {
      return fs.readdirSync(dir).some((n) => n.startsWith('supervisor-') && n.endsWith('.sock'));
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 100 && !found(); i++) await new Promise((r) => setTimeout(r, 100));
}
