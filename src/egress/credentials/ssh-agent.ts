// An ssh-agent for the sandbox whose keys stay outside. It speaks the agent protocol
// (draft-miller-ssh-agent) on a unix socket bound into the sandbox: it lists the public halves
// of the keys the policy names, and signs only (1) SSH user-authentication requests for that
// very key (never arbitrary data: no signing oracle for commits or challenges), (2) while the
// sandbox has a connection open through the proxy to one of the ssh hosts the key is scoped
// to. Adding, removing, locking and extensions are refused. Every signature and refusal is an
// event.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import sshpk from 'sshpk';
import type { DecisionRecorder } from '../record.js';
import { Policy } from '../policy.js';

const FAILURE = 5;
const REQUEST_IDENTITIES = 11;
const IDENTITIES_ANSWER = 12;
const SIGN_REQUEST = 13;
const SIGN_RESPONSE = 14;
const RSA_SHA2_256 = 2;
const RSA_SHA2_512 = 4;
const USERAUTH_REQUEST = 50;

export interface BrokerKey {
  /** Path on the host (for events). */
  name: string;
  blob: Buffer;
  comment: string;
  type: string;
  fingerprint: string;
  private: crypto.KeyObject;
  /** ssh hosts (port 22 unless given). */
  scope: Policy;
  hosts: string[];
}

function sshString(b: Buffer | string): Buffer {
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(buf.length);
  return Buffer.concat([len, buf]);
}

function mpint(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  let v = b.subarray(i);
  if (v[0]! & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
  return sshString(v);
}

class Reader {
  o = 0;
  constructor(readonly b: Buffer) {}
  u8(): number {
    if (this.o + 1 > this.b.length) throw new Error('short');
    return this.b[this.o++]!;
  }
  u32(): number {
    if (this.o + 4 > this.b.length) throw new Error('short');
    const v = this.b.readUInt32BE(this.o);
    this.o += 4;
    return v;
  }
  str(): Buffer {
    const n = this.u32();
    if (this.o + n > this.b.length) throw new Error('short');
    const v = this.b.subarray(this.o, this.o + n);
    this.o += n;
    return v;
  }
  get done(): boolean {
    return this.o === this.b.length;
  }
}

/** Reads an OpenSSH (or PEM) private key; throws with the file named. */
export function loadKey(file: string, hosts: string[]): BrokerKey {
  const data = fs.readFileSync(file);
  const k = sshpk.parsePrivateKey(data, 'auto', { filename: file });
  const pub = k.toPublic();
  const parts = k.part as unknown as Record<string, { data: Buffer } | undefined>;
  const priv =
    k.type === 'ed25519'
      ? crypto.createPrivateKey({
          key: { kty: 'OKP', crv: 'Ed25519', d: parts.k!.data.subarray(-32).toString('base64url'), x: parts.A!.data.subarray(-32).toString('base64url') },
          format: 'jwk',
        })
      : crypto.createPrivateKey(k.toBuffer('pkcs8', {}).toString());
  return {
    name: file,
    blob: pub.toBuffer('rfc4253', {}),
    comment: (k.comment && k.comment !== '(unnamed)' ? k.comment : file.split('/').pop()) ?? 'key',
    type: k.type,
    fingerprint: pub.fingerprint('sha256').toString(),
    private: priv,
    scope: new Policy(hosts.map((h) => (/:\d+$/.test(h) ? h : `${h}:22`))),
    hosts,
  };
}

/** An SSH signature blob (string algorithm, string signature) for `data`. */
export function sshSign(key: BrokerKey, data: Buffer, flags: number): Buffer {
  if (key.type === 'ed25519') return Buffer.concat([sshString('ssh-ed25519'), sshString(crypto.sign(null, data, key.private))]);
  if (key.type === 'rsa') {
    const [algo, hash] = flags & RSA_SHA2_512 ? ['rsa-sha2-512', 'sha512'] : flags & RSA_SHA2_256 ? ['rsa-sha2-256', 'sha256'] : ['ssh-rsa', 'sha1'];
    return Buffer.concat([sshString(algo!), sshString(crypto.sign(hash!, data, key.private))]);
  }
  if (key.type === 'ecdsa') {
    const curve = key.private.asymmetricKeyDetails?.namedCurve;
    const [name, hash, size] = curve === 'secp384r1' ? ['nistp384', 'sha384', 48] : curve === 'secp521r1' ? ['nistp521', 'sha512', 66] : ['nistp256', 'sha256', 32];
    const rs = crypto.sign(hash!, data, { key: key.private, dsaEncoding: 'ieee-p1363' });
    const inner = Buffer.concat([mpint(rs.subarray(0, size as number)), mpint(rs.subarray(size as number))]);
    return Buffer.concat([sshString(`ecdsa-sha2-${name}`), sshString(inner)]);
  }
  throw new Error(`unsupported key type ${key.type}`);
}

/** Whether `data` is an SSH_MSG_USERAUTH_REQUEST for public key `blob` (what ssh asks an agent to sign). */
export function isUserauthFor(data: Buffer, blob: Buffer): { ok: true; user: string } | { ok: false; why: string } {
  try {
    const r = new Reader(data);
    const session = r.str();
    if (session.length < 16 || session.length > 64) return { ok: false, why: 'no session identifier' };
    if (r.u8() !== USERAUTH_REQUEST) return { ok: false, why: 'not an SSH user-authentication request' };
    const user = r.str().toString('utf8');
    if (r.str().toString() !== 'ssh-connection') return { ok: false, why: 'not for the ssh-connection service' };
    const method = r.str().toString();
    // OpenSSH 8.9+ binds the login to the server's host key ("hostbound"), which follows the key.
    if (method !== 'publickey' && method !== 'publickey-hostbound-v00@openssh.com') return { ok: false, why: 'not a publickey request' };
    if (r.u8() !== 1) return { ok: false, why: 'not a signed publickey request' };
    r.str(); // algorithm
    if (!r.str().equals(blob)) return { ok: false, why: 'for another key' };
    if (method !== 'publickey') r.str(); // server host key
    if (!r.done) return { ok: false, why: 'trailing data' };
    return { ok: true, user };
  } catch {
    return { ok: false, why: 'malformed request' };
  }
}

/** Open allowed flows by host and port (fed by the proxy). */
export class FlowTable {
  private readonly open = new Map<string, number>();
  opened(host: string | undefined, port: number): () => void {
    if (!host) return () => {};
    const k = `${host}:${port}`;
    this.open.set(k, (this.open.get(k) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.open.get(k) ?? 1) - 1;
      if (n <= 0) this.open.delete(k);
      else this.open.set(k, n);
    };
  }
  /** Hosts:ports with an open flow that `scope` allows. */
  openIn(scope: Policy): string[] {
    return [...this.open.keys()].filter((k) => {
      const i = k.lastIndexOf(':');
      return scope.decideName(k.slice(0, i), Number(k.slice(i + 1))).allowed;
    });
  }
}

function frame(type: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(body.length + 1);
  h[4] = type;
  return Buffer.concat([h, body]);
}

export class SshAgentBroker {
  private server: net.Server | undefined;
  private readonly clients = new Set<net.Socket>();

  constructor(
    private readonly keys: BrokerKey[],
    private readonly flows: FlowTable,
    private readonly record: DecisionRecorder,
  ) {}

  async listen(socketPath: string, owner?: { uid: number; gid: number }): Promise<void> {
    const server = net.createServer((c) => this.onClient(c));
    server.on('error', () => {});
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, () => resolve()));
    fs.chmodSync(socketPath, 0o600);
    if (owner) fs.chownSync(socketPath, owner.uid, owner.gid);
    this.server = server;
  }

  close(): void {
    this.server?.close();
    for (const c of this.clients) c.destroy();
  }

  private onClient(c: net.Socket): void {
    this.clients.add(c);
    c.on('close', () => this.clients.delete(c));
    c.on('error', () => {});
    let buf = Buffer.alloc(0);
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4) {
        const n = buf.readUInt32BE(0);
        if (n === 0 || n > 256 * 1024) return void c.destroy();
        if (buf.length < 4 + n) return;
        const msg = buf.subarray(4, 4 + n);
        buf = buf.subarray(4 + n);
        c.write(this.answer(msg));
      }
    });
  }

  private answer(msg: Buffer): Buffer {
    const type = msg[0];
    if (type === REQUEST_IDENTITIES) {
      const n = Buffer.alloc(4);
      n.writeUInt32BE(this.keys.length);
      return frame(IDENTITIES_ANSWER, Buffer.concat([n, ...this.keys.flatMap((k) => [sshString(k.blob), sshString(k.comment)])]));
    }
    if (type === SIGN_REQUEST) return this.sign(msg.subarray(1));
    return frame(FAILURE);
  }

  private refuse(key: BrokerKey | undefined, why: string, reason: string): Buffer {
    this.record.inside('egress.ssh_sign_refused', {
      severity: 'alert',
      alert: { rule: 'egress.ssh_agent_refused', category: 'credential_access', mitre: ['T1552.004'] },
      message: `ssh-agent broker refused to sign${key ? ` with ${key.name}` : ''}: ${why}`,
      data: { reason, ...(key ? { key: key.name, fingerprint: key.fingerprint, hosts: key.hosts } : {}) },
    });
    return frame(FAILURE);
  }

  private sign(body: Buffer): Buffer {
    let blob: Buffer;
    let data: Buffer;
    let flags: number;
    try {
      const r = new Reader(body);
      blob = r.str();
      data = r.str();
      flags = r.u32();
    } catch {
      return this.refuse(undefined, 'malformed sign request', 'malformed');
    }
    const key = this.keys.find((k) => k.blob.equals(blob));
    if (!key) return this.refuse(undefined, 'the key is not one the policy names', 'unknown-key');
    const ua = isUserauthFor(data, key.blob);
    if (!ua.ok) return this.refuse(key, `${ua.why} (the broker signs only SSH logins)`, 'not-userauth');
    const open = this.flows.openIn(key.scope);
    if (!open.length) return this.refuse(key, `no connection to ${key.hosts.join(', ')} is open through the proxy`, 'no-allowed-connection');
    let sig: Buffer;
    try {
      sig = sshSign(key, data, flags);
    } catch (e) {
      return this.refuse(key, (e as Error).message, 'sign-failed');
    }
    this.record.inside('egress.ssh_sign', {
      severity: 'info',
      message: `ssh-agent broker signed a login with ${key.name} (${key.fingerprint}) as ${ua.user} over ${open.join(', ')}`,
      data: { key: key.name, fingerprint: key.fingerprint, user: ua.user, connections: open },
    });
    return frame(SIGN_RESPONSE, sshString(sig));
  }
}
