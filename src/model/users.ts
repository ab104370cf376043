// Home directories by uid from /etc/passwd, for agents whose environment is unreadable.
import fs from 'node:fs';

let cache: Map<number, string> | undefined;

/** Every home directory in /etc/passwd of root and of users (uid 1000 and up). */
export function userHomes(): string[] {
  homeOf(0);
  return [...cache!.entries()].filter(([uid, h]) => (uid === 0 || uid >= 1000) && h.startsWith('/') && h !== '/' && !h.startsWith('/nonexist')).map(([, h]) => h);
}

export function homeOf(uid: number): string | undefined {
  if (!cache) {
    cache = new Map();
    try {
      for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
        const f = line.split(':');
        if (f.length >= 6 && f[2] && f[5]) cache.set(Number(f[2]), f[5]);
      }
    } catch {
      /* no passwd: homes stay unknown */
    }
  }
  return cache.get(uid);
}
