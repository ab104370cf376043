// What a file is, whatever it was called: the secret and persistence paths of the built-in
// lists (src/config/defaults.ts), for every home on the host, by device and inode. An open
// whose inode is a known secret is that secret, reached through a hard link, a symlink, a bind
// mount or a directory fd; the kernel sensor is given the same inodes (`protected`) so that
// their opens travel in its high-value buffer and survive a flood. Also derives the path
// components whose failed opens and lookups the sensor reports (someone looking for a secret).
import fs from 'node:fs';
import path from 'node:path';
import { PERSISTENCE_PATHS, SECRET_PATHS } from '../config/defaults.js';
import { userHomes } from './users.js';

/** Files enumerated under one secret directory at most (browser profiles can hold thousands). */
const MAX_PER_DIR = 500;
const MAX_DEPTH = 2;
const MAX_TOTAL = 12_000;

/** Node's st_dev (userspace encoding) as the kernel's dev_t (what the sensor reports). */
export function kernelDev(stDev: number | bigint): number {
  const d = BigInt(stDev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  return major * 2 ** 20 + minor;
}

export interface KnownFile {
  /** The canonical path (under the home it was found in). */
  path: string;
  kind: 'secret' | 'persistence';
  dir: boolean;
  /**
   * When this inode was first seen under this path (monotonic ns, the sensor's clock); 0 when
   * known from the first reading. An event from before it is not about this secret: a file
   * written under a temporary name and then renamed over a secret (an atomic save) was not the
   * secret when it was opened.
   */
  since: bigint;
}

/** Homes to look in: /root, /home/*, every user's home in /etc/passwd, and any home a session reported. */
export function hostHomes(extra: Iterable<string> = []): string[] {
  const homes = new Set<string>(['/root', ...userHomes()]);
  try {
    for (const d of fs.readdirSync('/home')) homes.add(path.join('/home', d));
  } catch {
    /* no /home */
  }
  for (const h of extra) if (h.startsWith('/')) homes.add(h);
  return [...homes];
}

/** The concrete paths a pattern names (no globs: those are left to the rules). */
function concrete(pattern: string, homes: string[]): string[] {
  if (pattern.includes('*')) return [];
  if (pattern.startsWith('~/')) return homes.map((h) => path.join(h, pattern.slice(2)));
  return pattern.startsWith('/') ? [pattern] : [];
}

/** Last components too common to mean a secret on their own (a failed lookup of them is noise). */
const GENERIC_LAST = new Set(['config', 'config.json', 'user', 'autostart', 'hooks', 'environment', 'group', 'passwd', 'security', 'profile', 'rc', 'pip.conf', 'systemd', 'system']);

/** Persistence files whose failed lookup is someone checking whether they can plant something. */
const PERSISTENCE_WATCHED = ['.bashrc', '.bash_profile', '.bash_login', '.profile', '.zshrc', '.zshenv', '.zprofile', '.zlogin', 'authorized_keys', 'authorized_keys2', 'crontab', 'cron.d', 'sudoers', 'sudoers.d', 'rc.local'];

/**
 * Path components whose failed opens and lookups are reported: the secrets themselves (the
 * last component of each secret pattern: ".ssh", ".aws", ".netrc", "shadow"...), a few
 * persistence files, and private key names a search tries one by one. Not the directories
 * secrets sit in among other things (".config", ".cargo", ".docker"): a shell's PATH search
 * through ~/.cargo/bin is not a search for a token. Not ld.so.preload either: the dynamic
 * loader of every program checks it.
 */
export function watchedNames(): string[] {
  const out = new Set<string>();
  for (const e of SECRET_PATHS) {
    const last = e.pattern.split('/').pop() ?? '';
    if (!last || last.includes('*') || GENERIC_LAST.has(last) || last.length > 31) continue;
    out.add(last);
  }
  for (const n of PERSISTENCE_WATCHED) out.add(n);
  for (const k of ['id_rsa', 'id_ecdsa', 'id_ed25519', 'id_dsa', 'credentials', 'auth.json', '.credentials.json', 'oauth_creds.json']) out.add(k);
  return [...out];
}

export class SecretIdentity {
  private byInode = new Map<string, KnownFile>();
  private loadedAt = 0;
  /** Inodes handed to the sensor already (each is sent once per sensor). */
  private readonly sent = new Set<string>();

  /**
   * protect() says whether a sensor took the inode: one not running yet gets it when
   * resendProtected() says it runs. An inode stays on the kernel's list after it left its secret's
   * path: moved away (a `mv` of the secret), it is still the secret (taking it off let a moved
   * /etc/shadow- be read unreported). A full list stops the kernel's library count.
   */
  constructor(private readonly o: { homes?: () => Iterable<string>; protect?: (dev: number, ino: number) => boolean; now?: () => number; clock?: () => bigint } = {}) {}

  get size(): number {
    return this.byInode.size;
  }

  /** The known file with this kernel device and inode (at monotonic time `at`, when given). */
  lookup(dev: number | undefined, ino: number | undefined, at?: bigint): KnownFile | undefined {
    if (!dev || !ino) return undefined;
    const k = this.byInode.get(`${dev}:${ino}`);
    return k && (at === undefined || k.since <= at) ? k : undefined;
  }

  /** Re-reads the lists from disk (at start, then when a protected directory changes and periodically). */
  refresh(): void {
    const next = new Map<string, KnownFile>();
    const first = this.loadedAt === 0;
    const now = first ? 0n : (this.o.clock ?? process.hrtime.bigint)();
    const prev = this.byInode;
    const homes = hostHomes(this.o.homes?.() ?? []);
    const add = (p: string, kind: KnownFile['kind'], depth: number, follow: boolean) => {
      if (next.size >= MAX_TOTAL) return;
      let st: fs.Stats;
      try {
        // a listed path is followed if it is a symlink (~/.ssh may live elsewhere); what is found
        // inside a directory is not (cryptdisks.service -> /dev/null would make /dev/null a unit)
        st = follow ? fs.statSync(p) : fs.lstatSync(p);
      } catch {
        return;
      }
      const dir = st.isDirectory();
      if (!dir && !st.isFile()) return;
      const key = `${kernelDev(st.dev)}:${st.ino}`;
      // the first name found is the canonical one (a secret listed under two patterns keeps the first)
      const before = prev.get(key);
      if (!next.has(key)) next.set(key, { path: p, kind, dir, since: before?.path === p ? before.since : now });
      if (!dir || depth >= MAX_DEPTH) return;
      let names: string[];
      try {
        names = fs.readdirSync(p).slice(0, MAX_PER_DIR);
      } catch {
        return;
      }
      for (const n of names) add(path.join(p, n), kind, depth + 1, false);
    };
    for (const e of SECRET_PATHS) for (const p of concrete(e.pattern, homes)) add(p, 'secret', 0, true);
    for (const e of PERSISTENCE_PATHS) for (const p of concrete(e.pattern, homes)) add(p, 'persistence', 1, true);
    this.byInode = next;
    this.loadedAt = (this.o.now ?? Date.now)();
    this.sendProtected();
  }

  /**
   * A sensor started (or started again without the kernel state of the last one): it is given
   * every known inode. The kernel counts, without reporting them, the reads of library files
   * that are not on this list, so an inode the sensor never got is a secret it could hide.
   */
  resendProtected(): void {
    this.sent.clear();
    this.sendProtected();
  }

  private sendProtected(): void {
    if (!this.o.protect) return;
    for (const key of this.byInode.keys()) {
      if (this.sent.has(key)) continue;
      const [dev, ino] = key.split(':');
      if (!this.o.protect(Number(dev), Number(ino))) return; // no sensor yet
      this.sent.add(key);
    }
  }

  /** Refreshes when older than maxAgeMs. */
  refreshIfOlder(maxAgeMs: number): void {
    if ((this.o.now ?? Date.now)() - this.loadedAt >= maxAgeMs) this.refresh();
  }
}
