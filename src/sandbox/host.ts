// Small lookups on the host, shared by the runner, doctor and the bench: a command in PATH
// (like execvp) and a user's passwd entry (without NSS: /etc/passwd only).
import fs from 'node:fs';
import path from 'node:path';

/** Looks a command up like execvp would, from directory `cwd`; undefined when not found. */
export function which(cmd: string, PATH: string, cwd?: string): string | undefined {
  const exec = (p: string) => {
    try {
      if (!fs.statSync(p, { throwIfNoEntry: false })?.isFile()) return undefined;
      fs.accessSync(p, fs.constants.X_OK); // execvp skips files it may not execute
      return p;
    } catch {
      return undefined;
    }
  };
  if (cmd.includes('/')) return exec(cwd ? path.resolve(cwd, cmd) : path.resolve(cmd));
  for (const dir of PATH.split(':')) {
    const hit = exec(cwd ? path.resolve(cwd, dir || '.', cmd) : path.join(dir || '.', cmd));
    if (hit) return hit;
  }
  return undefined;
}

export interface Passwd {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export function passwdEntry(uid: number): Passwd | undefined {
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 7 && Number(f[2]) === uid) return { name: f[0]!, uid, gid: Number(f[3]), home: f[5]! };
    }
  } catch {
    /* no passwd file: identity stays numeric */
  }
  return undefined;
}

