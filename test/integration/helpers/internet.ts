// A fake internet for egress tests: a network namespace (unique name) reached from the host
// through a veth, with several addresses in a random /28 of TEST-NET-2/3, each serving HTTP,
// HTTPS (self-signed certificate made here with openssl), raw TCP and DNS. Every request
// the servers see is logged, so a test can prove that something did NOT arrive.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../../..');

export interface ServerLog {
  t: number;
  srv?: string;
  local?: string;
  host?: string | null;
  sni?: string | null;
  name?: string;
  path?: string;
  method?: string;
  ready?: boolean;
}

export interface Internet {
  ns: string;
  /** Host-side address of the veth (a host-own address). */
  gateway: string;
  /** Server addresses inside the namespace: [0] is "allowed.test", [1] "denied.test", ... */
  addrs: string[];
  dns: string;
  certFile: string;
  keyFile: string;
  dir: string;
  logs: ServerLog[];
  /** Log lines that arrived at a given server address. */
  hits(addr: string, srv?: string): ServerLog[];
  stop(): Promise<void>;
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function suffix(): string {
  return crypto.randomBytes(3).toString('hex');
}

/** A /28 in 198.51.100.0/24 or 203.0.113.0/24 that no route on the host uses yet. */
function pickBlock(): string {
  const routes = sh('ip', ['-4', 'route', 'show', 'table', 'all']);
  for (let i = 0; i < 100; i++) {
    const base = Math.random() < 0.5 ? '198.51.100' : '203.0.113';
    const start = Math.floor(Math.random() * 16) * 16;
    const block = `${base}.${start}`;
    if (!routes.includes(`${block}/28`) && !routes.includes(`${base}.${start + 1} `)) return block;
  }
  throw new Error('no free test block');
}

export interface ServerChoice {
  /** Script under test/fixtures/egress run with node inside the namespace (default internet-server.mjs). */
  script: string;
  /** Extra configuration merged into its JSON argument; may use the addresses and directory. */
  config(addrs: string[], dir: string): Record<string, unknown>;
  /** Certificate and key to serve (default: a self-signed one made here for `sans`). */
  cert?: { certFile: string; keyFile: string };
}

export async function startInternet(zone: (addrs: string[]) => Record<string, string>, sans: string[], base = '/var/tmp', server?: ServerChoice): Promise<Internet> {
  const sfx = suffix();
  const ns = `wdinet-${sfx}`;
  const vh = `wdi${sfx}`;
  const vn = `wdj${sfx}`;
  const block = pickBlock();
  const [a, b, c, start] = block.split('.').map(Number) as [number, number, number, number];
  const ip = (n: number) => `${a}.${b}.${c}.${start + n}`;
  const gateway = ip(1);
  const addrs = [ip(2), ip(3), ip(4), ip(5)];
  // Not under /tmp: sandboxes get a private /tmp, and clients need the certificate.
  const dir = fs.mkdtempSync(path.join(base, 'warden-inet-'));
  fs.chmodSync(dir, 0o755);
  const certFile = server?.cert?.certFile ?? path.join(dir, 'cert.pem');
  const keyFile = server?.cert?.keyFile ?? path.join(dir, 'key.pem');
  if (!server?.cert) sh('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=warden-test', '-addext', `subjectAltName=${sans.map((s) => `DNS:${s}`).join(',')}`,
    '-keyout', keyFile, '-out', certFile,
  ]);
  let proc: ChildProcess | undefined;
  const logs: ServerLog[] = [];
  const stop = async () => {
    if (proc && proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 100));
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
    try {
      sh('ip', ['link', 'del', vh]);
    } catch {
      // already gone
    }
    try {
      sh('ip', ['netns', 'del', ns]);
    } catch {
      // already gone
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['link', 'add', vh, 'type', 'veth', 'peer', 'name', vn, 'netns', ns]);
    sh('ip', ['addr', 'add', `${gateway}/28`, 'dev', vh]);
    sh('ip', ['link', 'set', vh, 'up']);
    for (const x of addrs) sh('ip', ['-n', ns, 'addr', 'add', `${x}/28`, 'dev', vn]);
    sh('ip', ['-n', ns, 'link', 'set', vn, 'up']);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    sh('ip', ['-n', ns, 'route', 'add', 'default', 'via', gateway]);
    const cfg = { cert: certFile, key: keyFile, zone: zone(addrs), ...server?.config(addrs, dir) };
    proc = spawn('ip', ['netns', 'exec', ns, process.execPath, path.join(repoRoot, 'test/fixtures/egress', server?.script ?? 'internet-server.mjs'), JSON.stringify(cfg)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('internet servers did not start')), 15_000);
      proc!.stdout!.on('data', (d) => {
        buf += d;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          try {
            const o = JSON.parse(line) as ServerLog;
            logs.push(o);
            if (o.ready) {
              clearTimeout(t);
              resolve();
            }
          } catch {
            // not JSON
          }
        }
      });
      proc!.on('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`internet servers exited (${code})`));
      });
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    ns,
    gateway,
    addrs,
    dns: addrs[0]!,
    certFile,
    keyFile,
    dir,
    logs,
    hits: (addr, srv) => logs.filter((l) => l.local?.replace(/^::ffff:/, '') === addr && (!srv || l.srv === srv)),
    stop,
  };
}
