// `warden run --learn`: the run goes with every network destination allowed (each one recorded
// by the egress proxy) and the agent's or command's home as a private layer (what it writes
// there is seen), then the policy that would have let it pass is written: the policy in use
// plus the hosts it reached and the home paths it wrote. Secrets stay hidden and are never
// suggested; paths that run code (shell rc files, PATH directories) are listed as a comment,
// not allowed. The peers' users ask for this; here it is made from what the kernel and the
// proxy saw, not from the command's error messages.
import fs from 'node:fs';
import type { UnstampedEvent } from '../events/types.js';
import type { RunPolicy } from './policy.js';

export interface Learner {
  observe(e: UnstampedEvent): void;
  /** A home path the run wrote (discarded with its layer), and whether it is safe to allow. */
  wrote(rel: string, safe: boolean): void;
  policy(base: RunPolicy): RunPolicy;
  notes(): string[];
}

export function createLearner(): Learner {
  const hosts = new Set<string>();
  const writes = new Set<string>();
  const unsafe = new Set<string>();
  return {
    observe(e) {
      const d = (e.data ?? {}) as { rule?: string; reason?: string; decision?: string };
      // What the proxy let through; what it would have let through but could not reach; names looked up.
      if (e.kind === 'egress.allow' || (e.kind === 'egress.deny' && /resolve|unreach|upstream|connect/.test(d.reason ?? ''))) {
        const h = d.rule ?? e.net?.host ?? e.net?.dst_ip;
        if (h) hosts.add(h);
      } else if (e.kind === 'net.dns' && d.decision === 'allow' && e.dns?.query && !/^(localhost|.*\.localhost)$/.test(e.dns.query)) hosts.add(d.rule ?? e.dns.query);
    },
    wrote(rel, safe) {
      (safe ? writes : unsafe).add(rel);
    },
    policy(base) {
      const p: RunPolicy = structuredClone(base);
      p.network.mode = 'allowlist';
      p.network.allow = [...new Set([...p.network.allow, ...[...hosts].sort()])];
      p.filesystem.allowWrite = [...new Set([...p.filesystem.allowWrite, ...[...writes].sort()])];
      return p;
    },
    notes() {
      return [
        `hosts reached: ${hosts.size}; home paths written: ${writes.size}`,
        ...(unsafe.size ? [`written but not allowed (they run code or hold secrets): ${[...unsafe].sort().join(', ')}`] : []),
        'paths the run could not write because they were read-only are not seen without --monitor; add them by hand',
      ];
    },
  };
}

/** Writes the learned policy (never through a symlink). */
export function writeLearned(file: string, p: RunPolicy, toYaml: (p: RunPolicy) => string, notes: string[]): boolean {
  const text = `${notes.map((n) => `# ${n}`).join('\n')}\n${toYaml({ ...p, agent: undefined })}`;
  try {
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o644);
    try {
      if (!fs.fstatSync(fd).isFile()) return false;
      fs.writeSync(fd, text);
    } finally {
      fs.closeSync(fd);
    }
    return true;
  } catch {
    return false;
  }
}
