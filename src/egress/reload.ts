// Live reload of network.allow (and network.resolve) from the run policy file: on change
// (watched) or on POST /reload at the loopback endpoint. Never when the sandbox itself can
// write the file: an agent must not be able to widen its own allowlist.
import fs from 'node:fs';
import path from 'node:path';

export interface ReloadResult {
  ok: boolean;
  message: string;
  added?: string[];
  removed?: string[];
}

export interface PolicyWatchOptions {
  file: string;
  writablePaths: string[];
  /** Applies a new list; throws on an invalid entry (the old list stays). */
  apply(allow: string[], resolve: Record<string, string>): { added: string[]; removed: string[] };
  report(r: ReloadResult): void;
}

function real(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

function inside(p: string, dir: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** The writable path that contains the policy file (or its directory), if any. */
export function writableHolder(file: string, writable: string[]): string | undefined {
  const f = real(file);
  return writable.map(real).find((w) => inside(f, w) || inside(path.dirname(f), w));
}

export class PolicyWatch {
  private watcher: fs.FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly blockedBy: string | undefined;

  constructor(private readonly o: PolicyWatchOptions) {
    this.blockedBy = writableHolder(o.file, o.writablePaths);
  }

  /** Watches the file's directory (editors replace files by rename); false when refused. */
  start(): boolean {
    if (this.blockedBy) return false;
    const base = path.basename(this.o.file);
    try {
      this.watcher = fs.watch(path.dirname(this.o.file), (_e, name) => {
        if (name !== null && String(name) !== base) return;
        clearTimeout(this.timer);
        this.timer = setTimeout(() => void this.reload().then((r) => this.o.report(r)), 150);
      });
      this.watcher.on('error', () => {});
      this.watcher.unref();
    } catch {
      return false;
    }
    return true;
  }

  get refusedBecause(): string | undefined {
    return this.blockedBy ? `the policy file is writable inside the sandbox (under ${this.blockedBy})` : undefined;
  }

  async reload(): Promise<ReloadResult> {
    if (this.blockedBy) return { ok: false, message: `reload refused: ${this.refusedBecause}; restart warden run to apply changes` };
    try {
      // The run policy schema lives with the sandbox; loaded only when a reload happens.
      const { loadRunPolicy } = await import('../config/run-policy.js');
      const p = loadRunPolicy(this.o.file);
      if (p.network.mode !== 'allowlist') return { ok: false, message: `reload ignored: network.mode is now ${p.network.mode}; a mode change needs a restart` };
      const d = this.o.apply(p.network.allow, p.network.resolve);
      return { ok: true, message: `allowlist reloaded from ${this.o.file} (+${d.added.length} -${d.removed.length})`, ...d };
    } catch (e) {
      return { ok: false, message: `reload failed, the previous allowlist stays: ${(e as Error).message}` };
    }
  }

  stop(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
  }
}
