// An agent's home in `warden run --agent`: a private directory of Warden's, bound at the home,
// with the real home's entries read-only inside (fs-plan.ts), so the agent can create
// temporary files and locks in its home; they are discarded with the run. Files the agent
// rewrites by rename directly in the home (~/.claude.json) are copied in before the run and
// written back after it, unless the original changed meanwhile (then the agent's version is
// kept beside it). What else the agent tried to keep in the home is reported, with the policy
// line that would keep it.
import fs from 'node:fs';
import path from 'node:path';

export interface ScratchHome {
  dir: string;
  home: string;
  /** Names (in the home) of the files copied in, with the original's state at copy time. */
  copies: Array<{ name: string; ino: number; size: number; mtimeMs: number }>;
}

export interface ScratchOutcome {
  /** Files written back to the home. */
  synced: string[];
  /** Files kept beside the original: it changed during the run, or the agent changed what runs programs. */
  kept: Array<{ path: string; besideAs: string; reason: string }>;
  /** Entries the agent created in its home, discarded with the run. */
  discarded: string[];
}

/** Makes the scratch directory (0700, owned by the sandbox uid) and copies the agent's home files in. */
export function createScratchHome(dir: string, home: string, files: string[], owner: { uid: number; gid: number }): ScratchHome {
  fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o711 });
  fs.mkdirSync(dir, { mode: 0o700 });
  const root = process.getuid?.() === 0;
  if (root) fs.chownSync(dir, owner.uid, owner.gid);
  const copies: ScratchHome['copies'] = [];
  for (const f of files) {
    if (!f.startsWith('~/') || f.slice(2).includes('/')) continue; // files directly in the home only
    const name = f.slice(2);
    const src = path.join(home, name);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(src);
    } catch {
      continue; // the agent creates it: it lands in the scratch directory and is written back if kept
    }
    if (!st.isFile()) continue;
    const dst = path.join(dir, name);
    fs.copyFileSync(src, dst);
    fs.chmodSync(dst, st.mode & 0o777);
    if (root) fs.chownSync(dst, owner.uid, owner.gid);
    copies.push({ name, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs });
  }
  return { dir, home, copies };
}

/**
 * After the run: the agent's home files written back (atomically, with the original's owner
 * and mode), or kept beside the original when it changed meanwhile; new entries reported.
 * `agentFiles` are the profile's home files (also kept when the agent created them).
 */
export function finishScratchHome(sh: ScratchHome, agentFiles: string[], realEntries: ReadonlySet<string>, id: string, execKeys: readonly string[] = []): ScratchOutcome {
  const out: ScratchOutcome = { synced: [], kept: [], discarded: [] };
  const wanted = new Set(agentFiles.filter((f) => f.startsWith('~/') && !f.slice(2).includes('/')).map((f) => f.slice(2)));
  let names: string[] = [];
  try {
    names = fs.readdirSync(sh.dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const inScratch = path.join(sh.dir, name);
    const copy = sh.copies.find((c) => c.name === name);
    if (wanted.has(name)) {
      const st = fs.lstatSync(inScratch);
      if (!st.isFile()) continue;
      if (copy && st.size === copy.size && st.mtimeMs === copy.mtimeMs) continue; // unchanged
      const target = path.join(sh.home, name);
      const now = lstatOr(target);
      const untouched = copy ? !!now && now.ino === copy.ino && now.size === copy.size && now.mtimeMs === copy.mtimeMs : !now;
      const changedExec = changedKeys(now ? readJson(target) : {}, readJson(inScratch), execKeys);
      if (untouched && !changedExec.length) {
        writeBack(inScratch, target, now);
        out.synced.push(target);
      } else {
        const beside = `${target}.warden-${id}`;
        writeBack(inScratch, beside, now);
        out.kept.push({ path: target, besideAs: beside, reason: changedExec.length ? `the agent changed what runs programs (${changedExec.join(', ')})` : 'the original changed during the run' });
      }
      continue;
    }
    if (realEntries.has(name)) continue; // a mount point bwrap made for a real entry
    out.discarded.push(path.join(sh.home, name));
  }
  return out;
}

/** Copies `from` over `to` through a temporary file in `to`'s directory (never following a symlink at `to`). */
function writeBack(from: string, to: string, original: fs.Stats | undefined): void {
  const tmp = `${to}.warden-tmp-${process.pid}`;
  fs.copyFileSync(from, tmp, fs.constants.COPYFILE_EXCL);
  const owner = original ?? lstatOr(path.dirname(to));
  if (owner && process.getuid?.() === 0) fs.chownSync(tmp, owner.uid, owner.gid);
  fs.chmodSync(tmp, original ? original.mode & 0o777 : 0o600);
  fs.renameSync(tmp, to);
}

function readJson(p: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(p, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Values at dotted key paths (`*` any key) that differ between two JSON documents. */
export function changedKeys(a: unknown, b: unknown, keys: readonly string[]): string[] {
  const at = (v: unknown, parts: string[], prefix: string, out: Map<string, string>) => {
    if (!parts.length) {
      out.set(prefix, JSON.stringify(v) ?? 'undefined');
      return;
    }
    const [head, ...rest] = parts;
    if (head === '*') {
      if (v && typeof v === 'object') for (const k of Object.keys(v)) at((v as Record<string, unknown>)[k], rest, `${prefix}.${k}`, out);
    } else at(v && typeof v === 'object' ? (v as Record<string, unknown>)[head!] : undefined, rest, `${prefix}.${head}`, out);
  };
  const changed: string[] = [];
  for (const key of keys) {
    const ma = new Map<string, string>();
    const mb = new Map<string, string>();
    at(a, key.split('.'), '', ma);
    at(b, key.split('.'), '', mb);
    for (const k of new Set([...ma.keys(), ...mb.keys()])) if ((ma.get(k) ?? 'undefined') !== (mb.get(k) ?? 'undefined')) changed.push(k.slice(1));
  }
  return changed;
}

function lstatOr(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
}

/** Names in a directory, for telling bwrap's mount points from what the agent created. */
export function entryNames(dir: string): Set<string> {
  try {
    return new Set(fs.readdirSync(dir));
  } catch {
    return new Set();
  }
}
