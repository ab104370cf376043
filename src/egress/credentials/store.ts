// The run's credentials: each real value read on the host (environment of Warden, a file, or
// a command), its surrogate, where the sandbox sees the surrogate (a variable or a file at the
// same path) and where the real value may go (hosts, and which places of a request).
// Real values live only in this process's memory.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CredentialSpec } from '../../sandbox/policy.js';
import { Policy } from '../policy.js';
import { makeSurrogate } from './surrogate.js';
import { homeDir } from '../../util/xdg.js';

export interface Secret {
  /** Name in events: the variable, file path or `aws:NAME` (never the value). */
  name: string;
  real: Buffer;
  surrogate: Buffer;
  /** Hosts the real value may be sent to (allow-entry syntax). */
  scope: Policy;
  headers?: string[];
  query?: string[];
  body?: boolean | string[];
  /** Part of an AWS key pair: swapped by re-signing, never by text replacement in headers. */
  aws?: 'id' | 'secret' | 'token';
}

export interface AwsPair {
  name: string;
  id: Secret;
  secret: Secret;
  token?: Secret;
  scope: Policy;
}

export interface SshKeySpec {
  path: string;
  hosts: string[];
}

export class CredentialError extends Error {}

export interface Exposure {
  /** Variables to set inside (surrogates). */
  env: Record<string, string>;
  /** Files to show inside at these paths (surrogate contents). */
  files: Array<{ path: string; content: Buffer }>;
}

function expandHome(p: string, home: string): string {
  return p === '~' ? home : p.startsWith('~/') ? path.join(home, p.slice(2)) : p;
}

function readSource(c: CredentialSpec, env: NodeJS.ProcessEnv, home: string): string {
  if (c.command) {
    try {
      const out = execFileSync(c.command[0]!, c.command.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000, env });
      return out.replace(/\r?\n$/, '');
    } catch (e) {
      throw new CredentialError(`credentials: command ${JSON.stringify(c.command.join(' '))} failed: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (c.env) {
    const v = env[c.env];
    if (v === undefined || v === '') throw new CredentialError(`credentials: environment variable ${c.env} is not set for Warden`);
    return v;
  }
  const file = expandHome(c.file!, home);
  try {
    return fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new CredentialError(`credentials: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export class CredentialStore {
  readonly secrets: Secret[] = [];
  readonly aws: AwsPair[] = [];
  readonly ssh: SshKeySpec[] = [];
  readonly exposure: Exposure = { env: {}, files: [] };

  /** Reads every credential; throws CredentialError naming the one that failed. */
  constructor(specs: CredentialSpec[], o: { env?: NodeJS.ProcessEnv; home?: string } = {}) {
    const env = o.env ?? process.env;
    const home = o.home ?? homeDir(env) ?? '/';
    for (const c of specs) {
      if (c.sshKey) {
        this.ssh.push({ path: expandHome(c.sshKey, home), hosts: c.hosts });
        continue;
      }
      const scope = new Policy(c.hosts);
      if (c.aws) {
        this.addAws(c.aws, scope, env);
        continue;
      }
      const value = readSource(c, env, home);
      const name = c.env ?? expandHome(c.file!, home);
      const s = this.add({ name, value, scope, headers: c.headers, query: c.query, body: c.body });
      if (c.env) this.exposure.env[c.env] = s.surrogate.toString('utf8');
      else this.exposure.files.push({ path: expandHome(c.file!, home), content: Buffer.concat([s.surrogate, Buffer.from('\n')]) });
    }
  }

  private add(o: { name: string; value: string; scope: Policy; headers?: string[]; query?: string[]; body?: boolean | string[]; aws?: Secret['aws'] }): Secret {
    const real = Buffer.from(o.value, 'utf8');
    let surrogate: Buffer;
    try {
      surrogate = Buffer.from(makeSurrogate(o.value), 'utf8');
    } catch (e) {
      throw new CredentialError(`credentials: ${o.name}: ${(e as Error).message}`);
    }
    if (surrogate.length !== real.length) throw new CredentialError(`credentials: ${o.name}: only text credentials are supported`);
    const s: Secret = { name: o.name, real, surrogate, scope: o.scope, headers: o.headers?.map((h) => h.toLowerCase()), query: o.query, body: o.body, aws: o.aws };
    this.secrets.push(s);
    return s;
  }

  private addAws(a: NonNullable<CredentialSpec['aws']>, scope: Policy, env: NodeJS.ProcessEnv): void {
    const get = (n: string) => {
      const v = env[n];
      if (!v) throw new CredentialError(`credentials: environment variable ${n} is not set for Warden`);
      return v;
    };
    const id = this.add({ name: `aws:${a.accessKeyId}`, value: get(a.accessKeyId), scope, aws: 'id' });
    const secret = this.add({ name: `aws:${a.secretAccessKey}`, value: get(a.secretAccessKey), scope, aws: 'secret' });
    const token = a.sessionToken ? this.add({ name: `aws:${a.sessionToken}`, value: get(a.sessionToken), scope, aws: 'token' }) : undefined;
    this.exposure.env[a.accessKeyId] = id.surrogate.toString();
    this.exposure.env[a.secretAccessKey] = secret.surrogate.toString();
    if (token && a.sessionToken) this.exposure.env[a.sessionToken] = token.surrogate.toString();
    this.aws.push({ name: a.accessKeyId, id, secret, token, scope });
  }

  /** Hosts whose TLS must be opened: every host a credential is scoped to. */
  scopes(): Policy[] {
    return [...this.secrets.map((s) => s.scope), ...this.aws.map((a) => a.scope)];
  }

  /** Whether some credential may be sent to this host (then its responses are re-masked). */
  scopedTo(host: string, port: number): boolean {
    return this.secrets.some((s) => s.scope.decideName(host, port).allowed);
  }

  get empty(): boolean {
    return this.secrets.length === 0;
  }
}
