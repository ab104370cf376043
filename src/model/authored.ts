// Files an agent wrote, and what follows for a program's name: a rule exception that trusts a
// tool by name (ssh-add may read ~/.ssh, aws may read ~/.aws) must not trust a program the
// agent wrote or copied itself and named like that tool, nor one run from a temporary
// directory. The model records every file an agent session creates, writes, renames into
// place, links or makes executable; an exec whose program (the executable as named, or the
// script an interpreter runs) is one of them is marked `proc.tool_untrusted` with the reason.

const MAX_FILES = 50_000;
const TMP_DIRS = ['/tmp/', '/var/tmp/', '/dev/shm/', '/run/shm/'];

export class AuthoredFiles {
  /** path -> session that last wrote it */
  private readonly files = new Map<string, string>();

  /** A file an agent session wrote (or moved, linked, chmod-ed) to `path`. */
  wrote(path: string, session: string): void {
    if (this.files.has(path)) this.files.delete(path);
    else if (this.files.size >= MAX_FILES) this.files.delete(this.files.keys().next().value!);
    this.files.set(path, session);
  }

  by(path: string): string | undefined {
    return this.files.get(path);
  }

  get size(): number {
    return this.files.size;
  }

  /**
   * Why the program named by these paths is not the tool its name says, if it is not:
   * written by an agent session, or living in a temporary directory, or not a file at all.
   */
  untrusted(paths: Array<string | undefined>): string | undefined {
    for (const p of paths) {
      if (!p) continue;
      const s = this.files.get(p);
      if (s) return `written by agent session ${s}`;
      if (TMP_DIRS.some((d) => p.startsWith(d))) return `run from a temporary directory (${p})`;
      if (p.startsWith('/memfd:') || p.startsWith('/proc/') || p.endsWith(' (deleted)')) return `not a file on disk (${p})`;
    }
    return undefined;
  }
}
