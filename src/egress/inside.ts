// What a run's egress puts inside the sandbox and keeps outside: credentials read on the host
// and their surrogates (variables, files at the same paths), the run CA (certificate in,
// key out) with the trust variables, request rules, and the ssh-agent broker's socket. The
// sandbox gets files through descriptors (bwrap --ro-bind-data), so nothing it sees lives in
// a directory the sandboxed user could open on the host.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SECRET_PATHS } from '../config/defaults.js';
import type { NetworkContext } from '../sandbox/network-provider.js';
import { CredentialError, CredentialStore } from './credentials/store.js';
import { FlowTable, loadKey, SshAgentBroker } from './credentials/ssh-agent.js';
import type { DecisionRecorder } from './record.js';
import { RequestRules } from './request-rules.js';
import type { RunCa } from './tls/ca.js';
import { Inspector } from './tls/inspector.js';
import { hostTrust, INSIDE_BUNDLE, INSIDE_CA, insideBundle, trustEnv } from './tls/trust.js';
import { homeDir } from '../util/xdg.js';

export const INSIDE_SSH_DIR = '/run/warden-ssh';
export const INSIDE_SSH_SOCK = `${INSIDE_SSH_DIR}/agent.sock`;

export interface Inside {
  inspector: Inspector;
  flows: FlowTable;
  env: Record<string, string>;
  fds: number[];
  bwrapArgs(slots: number[]): string[];
  needsUnixSockets: boolean;
  /** For egress.ready (names only). */
  summary: Record<string, unknown>;
  close(): void;
}

/**
 * The built-in secret directory that hides `p` inside (an empty read-only tmpfs there), if any:
 * a surrogate file under it needs a fresh tmpfs to be created in.
 */
function hiddenAncestor(p: string, env: NodeJS.ProcessEnv): string | undefined {
  const homes = new Set([env.HOME, homeDir(env)].filter((h): h is string => !!h));
  for (const e of SECRET_PATHS) {
    if (!e.pattern.startsWith('~/') || e.pattern.includes('*')) continue;
    for (const h of homes) {
      const d = path.join(h, e.pattern.slice(2));
      try {
        if (p.startsWith(d + '/') && fs.statSync(d).isDirectory()) return d;
      } catch {
        /* not there */
      }
    }
  }
  return undefined;
}

/** bwrap options that show each file (a descriptor slot) at its path, inside hidden directories too. */
function fileBinds(binds: Array<{ slot: number; dest: string }>, slots: number[], env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  const under = new Map<string, Array<{ slot: number; dest: string }>>();
  for (const b of binds) {
    const h = hiddenAncestor(b.dest, env);
    if (!h) out.push('--perms', '0444', '--ro-bind-data', String(slots[b.slot]), b.dest);
    else under.set(h, [...(under.get(h) ?? []), b]);
  }
  // A fresh tmpfs over the hidden directory (still empty but for the surrogates), then read-only.
  for (const [h, list] of under) {
    out.push('--tmpfs', h);
    const dirs = new Set<string>();
    for (const b of list) for (let d = path.dirname(b.dest); d !== h && d.startsWith(h); d = path.dirname(d)) dirs.add(d);
    for (const d of [...dirs].sort()) out.push('--dir', d);
    for (const b of list) out.push('--perms', '0444', '--ro-bind-data', String(slots[b.slot]), b.dest);
    out.push('--remount-ro', h);
  }
  return out;
}

/** A descriptor holding `content`, its file already unlinked. */
function dataFd(dir: string, name: string, content: string | Buffer): number {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content, { mode: 0o600 });
  const fd = fs.openSync(p, 'r');
  fs.unlinkSync(p);
  return fd;
}

export async function prepareInside(o: { ctx: NetworkContext; record: DecisionRecorder; connectTimeoutMs?: number }): Promise<Inside> {
  const { ctx, record } = o;
  let store: CredentialStore;
  try {
    store = new CredentialStore(ctx.credentials ?? [], { env: ctx.env });
  } catch (e) {
    throw e instanceof CredentialError ? new Error(e.message) : e;
  }
  const rules = new RequestRules(ctx.rules);
  const flows = new FlowTable();
  const needsTls = !store.empty || Object.keys(ctx.rules ?? {}).length > 0;
  const trust = hostTrust({ env: ctx.env, extraCaCerts: ctx.extraCaCerts });
  // @peculiar/x509 (and its reflect-metadata polyfill) load only for runs that inspect TLS.
  const ca: RunCa | undefined = needsTls ? await (await import('./tls/ca.js')).RunCa.create() : undefined;
  const inspector = new Inspector({ ca, trust, store, rules, record, connectTimeoutMs: o.connectTimeoutMs });

  const fds: number[] = [];
  const binds: Array<{ slot: number; dest: string }> = [];
  const env: Record<string, string> = { ...store.exposure.env };
  const tmp = fs.mkdtempSync(path.join(ctx.runDir && fs.existsSync(ctx.runDir) ? ctx.runDir : os.tmpdir(), 'inside-'));
  const owner = ctx.uid !== undefined && process.getuid?.() === 0 ? { uid: ctx.uid, gid: ctx.gid ?? ctx.uid } : undefined;
  let broker: SshAgentBroker | undefined;
  let sshDir: string | undefined;
  const close = () => {
    inspector.closeAll();
    broker?.close();
    for (const fd of fds.splice(0))
      try {
        fs.closeSync(fd);
      } catch {
        /* closed */
      }
    if (sshDir) fs.rmSync(sshDir, { recursive: true, force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  };
  try {
    const add = (name: string, content: string | Buffer, dest: string) => {
      fds.push(dataFd(tmp, name, content));
      binds.push({ slot: fds.length - 1, dest });
    };
    if (ca) {
      const bundle = insideBundle(trust, ca.certPem);
      add('bundle.pem', bundle, INSIDE_BUNDLE);
      add('ca.pem', ca.certPem, INSIDE_CA);
      // Tools that read the system bundle directly (and ignore every variable) trust it too.
      if (trust.systemBundle) add('system.pem', bundle, trust.systemBundle);
      Object.assign(env, trustEnv());
    }
    store.exposure.files.forEach((f, i) => add(`file-${i}`, f.content, f.path));

    if (store.ssh.length) {
      const keys = store.ssh.map((k) => {
        try {
          return loadKey(k.path, k.hosts);
        } catch (e) {
          throw new Error(`credentials: ssh_key ${k.path}: ${(e as Error).message}`);
        }
      });
      broker = new SshAgentBroker(keys, flows, record);
      // Not under the run's 0700 directory: the sandboxed user must reach the socket.
      sshDir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-ssh-'));
      fs.chmodSync(sshDir, 0o700);
      if (owner) fs.chownSync(sshDir, owner.uid, owner.gid);
      await broker.listen(path.join(sshDir, 'agent.sock'), owner);
      env.SSH_AUTH_SOCK = INSIDE_SSH_SOCK;
    }
  } catch (e) {
    close();
    throw e;
  }
  const dir = sshDir;
  return {
    inspector,
    flows,
    env,
    fds,
    needsUnixSockets: !!dir,
    bwrapArgs: (slots) => [
      ...fileBinds(binds, slots, ctx.env ?? process.env),
      ...(dir ? ['--ro-bind', dir, INSIDE_SSH_DIR] : []),
      // The brokered keys stay outside even when they lie outside the built-in secret paths.
      ...store.ssh.flatMap((k) => (fs.existsSync(k.path) ? ['--ro-bind', '/dev/null', k.path] : [])),
    ],
    summary: {
      ...(ca ? { inspect: { ca: 'per-run', hosts: [...new Set([...Object.keys(ctx.rules ?? {}), ...(ctx.credentials ?? []).filter((c) => !c.sshKey).flatMap((c) => c.hosts)])] } } : {}),
      ...(store.secrets.length || store.ssh.length
        ? { credentials: [...store.secrets.map((s) => s.name), ...store.ssh.map((k) => `ssh:${k.path}`)] }
        : {}),
    },
    close,
  };
}
