// An agent's home and state directories in `warden run --agent`, as private layers: for each
// one, a directory of Warden's is bound in its place and the real entries are bound read-only
// into it, so the agent can create what it likes there and it is discarded with the run. What
// outlives the run is its data (the profile's `keep`: sessions, transcripts, histories, its
// login): kept directories are bound writable in place, kept files are copied in and written
// back when they changed, new kept entries are copied out (regular files and directories, no
// execute bits, nothing through a symlink). Its settings, hooks, MCP servers, plugins,
// extensions, instructions and installs are never among them. Files it rewrites by rename in
// the home itself (~/.claude.json) are copied in, and only the keys the profile lists are
// taken from its version into the original.
import fs from 'node:fs';
import path from 'node:path';
import type { AgentProfileUse } from './policy.js';

export interface Layer {
  /** The real directory (exists). */
  dir: string;
  /** Warden's directory bound at `dir`. */
  scratch: string;
  /** Entries of `dir` not bound from the real one (another layer or a writable path covers them, or a copy is in `scratch`). */
  skip: string[];
  /** Names of entries to copy in before the run (kept files) with their state then. */
  copies: Array<{ name: string; ino: number; size: number; mtimeMs: number }>;
  /** Names (globs) of new entries to copy out after the run. */
  copyOut: string[];
  /** For the home layer: files merged back by keys. */
  merge?: Array<{ name: string; keys: string[] }>;
  /** Kept directories of which only one entry (this project's) is copied out when they are new. */
  onlyEntry?: Record<string, string>;
}

export interface LayerPlan {
  layers: Layer[];
  /** Kept directories: bound writable in place (added to the writable paths). */
  writable: string[];
}

const globRe = (g: string) => new RegExp('^' + g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$');
export const matchName = (globs: readonly string[], name: string) => globs.some((g) => globRe(g).test(name));

function lstat(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
}

function entries(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** Claude Code's name for a project's directory: the path with every non-alphanumeric as `-`. */
export function projectKey(workspace: string): string {
  return workspace.replace(/[^a-zA-Z0-9]/g, '-');
}

/** No symlink from `home` down to `p` (an earlier run could have planted one to redirect a layer). */
export function symlinkOnTheWay(p: string, home: string): string | undefined {
  let cur = home;
  for (const part of path.relative(home, p).split('/').filter(Boolean)) {
    cur = path.join(cur, part);
    const st = lstat(cur);
    if (!st) return undefined;
    if (st.isSymbolicLink()) return cur;
  }
  return undefined;
}

export function planLayers(agent: AgentProfileUse, home: string, workspace: string, scratchRoot: string, warn: (m: string) => void): LayerPlan {
  const abs = (p: string) => (p.startsWith('~/') ? path.join(home, p.slice(2)) : p);
  const layers: Layer[] = [];
  const writable: string[] = [];
  let n = 0;
  const scratchFor = () => path.join(scratchRoot, String(n++));
  const stateDirs = agent.stateDirs.map(abs).filter((d) => {
    const link = symlinkOnTheWay(d, home);
    if (link) warn(`${d}: goes through the symlink ${link}, which a sandbox could have planted; not given to the agent`);
    return !link && lstat(d)?.isDirectory();
  });

  // The home: everything read-only, state directories and workspace covered by their own mounts.
  const homeFiles = agent.homeFiles.filter((f) => f.path.startsWith('~/') && !f.path.slice(2).includes('/'));
  const homeLayer: Layer = { dir: home, scratch: scratchFor(), skip: [], copies: [], copyOut: [], merge: homeFiles.map((f) => ({ name: f.path.slice(2), keys: f.keys })) };
  for (const f of homeFiles) copyState(homeLayer, f.path.slice(2));
  layers.push(homeLayer);
  for (const d of stateDirs) if (path.dirname(d) === home) homeLayer.skip.push(path.basename(d));

  for (const dir of stateDirs) {
    const keep = agent.keep.map(abs).filter((k) => path.dirname(k) === dir).map((k) => path.basename(k));
    const perProject = agent.perProject.map(abs);
    const fresh = agent.fresh.map(abs).filter((k) => path.dirname(k) === dir).map((k) => path.basename(k));
    const layer: Layer = { dir, scratch: scratchFor(), skip: [...fresh], copies: [], copyOut: keep, merge: undefined, onlyEntry: {} };
    for (const pp of perProject) if (path.dirname(pp) === dir) layer.onlyEntry![path.basename(pp)] = projectKey(workspace);
    for (const e of entries(dir)) {
      if (!matchName(keep, e.name)) continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory() && perProject.includes(p)) {
        // Only this project's entry: a layer of its own in which that one is kept.
        const key = projectKey(workspace);
        const inner: Layer = { dir: p, scratch: scratchFor(), skip: [], copies: [], copyOut: [key] };
        if (lstat(path.join(p, key))?.isDirectory()) writable.push(path.join(p, key));
        layer.skip.push(e.name);
        layers.push(inner);
      } else if (e.isDirectory()) {
        writable.push(p);
        layer.skip.push(e.name);
      } else if (e.isFile()) copyState(layer, e.name);
    }
    layers.push(layer);
  }
  return { layers: sortOuterFirst(layers), writable };
}

function copyState(layer: Layer, name: string): void {
  const st = lstat(path.join(layer.dir, name));
  if (!st?.isFile()) return;
  layer.copies.push({ name, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs });
  layer.skip.push(name);
}

function sortOuterFirst(layers: Layer[]): Layer[] {
  return [...layers].sort((a, b) => a.dir.split('/').length - b.dir.split('/').length);
}

/** Makes the scratch directories (0700, owned by the sandbox uid) and copies the kept files in. */
export function prepareLayers(plan: LayerPlan, owner: { uid: number; gid: number }): void {
  const root = process.getuid?.() === 0;
  for (const l of plan.layers) {
    fs.mkdirSync(path.dirname(l.scratch), { recursive: true, mode: 0o711 });
    fs.mkdirSync(l.scratch, { mode: 0o700 });
    if (root) fs.chownSync(l.scratch, owner.uid, owner.gid);
    for (const c of l.copies) {
      const src = path.join(l.dir, c.name);
      const dst = path.join(l.scratch, c.name);
      copyRegular(src, dst, fs.lstatSync(src).mode & 0o666);
      if (root) fs.chownSync(dst, owner.uid, owner.gid);
    }
  }
}

export interface LayerOutcome {
  written: string[];
  /** Kept files not written back because the original changed during the run (the agent's version beside it). */
  keptBeside: Array<{ path: string; besideAs: string }>;
  /** What the agent created outside its data, discarded with the run. */
  discarded: string[];
  /** Keys of merged home files the agent changed that are not taken over. */
  ignoredKeys: Array<{ path: string; keys: string[] }>;
  errors: string[];
}

/** After the run: kept files written back, new kept entries copied out, home files merged by key, the rest reported. Never throws. */
export function finishLayers(plan: LayerPlan, id: string): LayerOutcome {
  const out: LayerOutcome = { written: [], keptBeside: [], discarded: [], ignoredKeys: [], errors: [] };
  for (const l of plan.layers) {
    try {
      finishLayer(l, plan, id, out);
    } catch (err) {
      out.errors.push(`${l.dir}: ${(err as Error).message}`);
    }
  }
  for (const l of plan.layers) fs.rmSync(l.scratch, { recursive: true, force: true });
  return out;
}

function finishLayer(l: Layer, plan: LayerPlan, id: string, out: LayerOutcome): void {
  const real = new Set(entries(l.dir).map((e) => e.name));
  for (const e of entries(l.scratch)) {
    try {
      finishEntry(l, e, real, plan, id, out);
    } catch (err) {
      out.errors.push(`${path.join(l.dir, e.name)}: ${(err as Error).message}`);
    }
  }
}

function finishEntry(l: Layer, e: fs.Dirent, real: ReadonlySet<string>, plan: LayerPlan, id: string, out: LayerOutcome): void {
  {
    const inScratch = path.join(l.scratch, e.name);
    const target = path.join(l.dir, e.name);
    const merge = l.merge?.find((m) => m.name === e.name);
    const copy = l.copies.find((c) => c.name === e.name);
    if (merge) {
      mergeBack(inScratch, target, merge.keys, copy, id, out);
      return;
    }
    if (copy) {
      const st = fs.lstatSync(inScratch);
      if (!st.isFile() || (st.size === copy.size && st.mtimeMs === copy.mtimeMs)) return;
      const now = lstat(target);
      if (now && now.ino === copy.ino && now.size === copy.size && now.mtimeMs === copy.mtimeMs) {
        replaceFile(inScratch, target, now);
        out.written.push(target);
      } else {
        const beside = `${target}.warden-${id}`;
        replaceFile(inScratch, beside, now);
        out.keptBeside.push({ path: target, besideAs: beside });
      }
      return;
    }
    if (real.has(e.name)) return; // a mount point bwrap made for a real entry
    if (plan.layers.some((x) => x.dir === target) || plan.writable.includes(target)) return;
    if (matchName(l.copyOut, e.name)) {
      const only = l.onlyEntry?.[e.name];
      if (only !== undefined) {
        // A new per-project directory: this project's entry only.
        if (!lstat(path.join(inScratch, only))) return;
        fs.mkdirSync(target, { mode: 0o700 });
        if (process.getuid?.() === 0) fs.chownSync(target, fs.lstatSync(l.dir).uid, fs.lstatSync(l.dir).gid);
        copyTree(path.join(inScratch, only), path.join(target, only), fs.lstatSync(l.dir));
        out.written.push(path.join(target, only));
        return;
      }
      copyTree(inScratch, target, fs.lstatSync(l.dir));
      out.written.push(target);
    } else out.discarded.push(target);
  }
}

/** Takes the listed keys of the agent's version of a JSON home file into the original. */
function mergeBack(inScratch: string, target: string, keys: string[], copy: Layer['copies'][number] | undefined, id: string, out: LayerOutcome): void {
  const st = fs.lstatSync(inScratch);
  if (!st.isFile() || (copy && st.size === copy.size && st.mtimeMs === copy.mtimeMs)) return;
  const agentVersion = parseJson(fs.readFileSync(inScratch, 'utf8'));
  const now = lstat(target);
  const original = now?.isFile() ? parseJson(fs.readFileSync(target, 'utf8')) : {};
  if (!isObject(agentVersion) || !isObject(original)) {
    // Not a JSON object on either side: kept beside, never written over the original.
    const beside = `${target}.warden-${id}`;
    replaceFile(inScratch, beside, now);
    out.keptBeside.push({ path: target, besideAs: beside });
    return;
  }
  const { merged, ignored } = mergeKeys(original, agentVersion, keys);
  if (ignored.length) out.ignoredKeys.push({ path: target, keys: ignored });
  if (JSON.stringify(merged) === JSON.stringify(original)) return;
  const tmp = `${target}.warden-tmp-${id}`;
  fs.writeFileSync(tmp, JSON.stringify(merged, null, 2), { mode: now ? now.mode & 0o777 : 0o600, flag: 'wx' });
  if (now && process.getuid?.() === 0) fs.chownSync(tmp, now.uid, now.gid);
  fs.renameSync(tmp, target);
  out.written.push(target);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/** Parses JSON as the agents do, a byte-order mark included; undefined when it is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    return undefined;
  }
}

/**
 * The original with the agent's values for the allowed keys (top-level names, or
 * `projects.*.name`); every other difference is listed and left out.
 */
export function mergeKeys(original: Record<string, unknown>, agent: Record<string, unknown>, keys: readonly string[]): { merged: Record<string, unknown>; ignored: string[] } {
  const merged: Record<string, unknown> = structuredClone(original);
  const ignored: string[] = [];
  const top = new Set(keys.filter((k) => !k.includes('.')));
  const nested = new Map<string, Set<string>>();
  for (const k of keys.filter((k) => k.includes('.'))) {
    const [parent, star, leaf] = k.split('.');
    if (star !== '*' || !parent || !leaf) continue;
    nested.set(parent, (nested.get(parent) ?? new Set()).add(leaf));
  }
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  for (const k of new Set([...Object.keys(original), ...Object.keys(agent)])) {
    if (same(original[k], agent[k])) continue;
    if (top.has(k)) {
      if (k in agent) merged[k] = agent[k];
      else delete merged[k];
      continue;
    }
    const leaves = nested.get(k);
    if (leaves && isObject(agent[k])) {
      const o = isObject(original[k]) ? (original[k] as Record<string, Record<string, unknown>>) : {};
      const a = agent[k] as Record<string, unknown>;
      const m: Record<string, unknown> = structuredClone(o);
      for (const name of Object.keys(a)) {
        const av = isObject(a[name]) ? (a[name] as Record<string, unknown>) : {};
        const ov = isObject(o[name]) ? o[name] : {};
        const entry: Record<string, unknown> = { ...ov };
        for (const leaf of new Set([...Object.keys(ov), ...Object.keys(av)])) {
          if (same(ov[leaf], av[leaf])) continue;
          if (leaves.has(leaf)) {
            if (leaf in av) entry[leaf] = av[leaf];
            else delete entry[leaf];
          } else ignored.push(`${k}.${name}.${leaf}`);
        }
        m[name] = entry;
      }
      merged[k] = m;
      continue;
    }
    ignored.push(k);
  }
  return { merged, ignored };
}

/** Replaces `to` with a copy of `from`, through a temporary file beside it (a symlink at `to` is replaced, not followed). */
function replaceFile(from: string, to: string, original: fs.Stats | undefined): void {
  const tmp = `${to}.warden-tmp-${process.pid}-${Date.now().toString(36)}`;
  copyRegular(from, tmp, original ? original.mode & 0o666 : 0o600);
  const owner = original ?? lstat(path.dirname(to));
  if (owner && process.getuid?.() === 0) fs.chownSync(tmp, owner.uid, owner.gid);
  fs.renameSync(tmp, to);
}

/** A regular file copied without following a symlink at either end, never executable. */
function copyRegular(from: string, to: string, mode: number): void {
  const src = fs.openSync(from, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    if (!fs.fstatSync(src).isFile()) throw new Error(`${from} is not a regular file`);
    const dst = fs.openSync(to, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, mode & 0o666);
    try {
      const buf = Buffer.allocUnsafe(1 << 16);
      for (let n; (n = fs.readSync(src, buf, 0, buf.length, null)) > 0; ) fs.writeSync(dst, buf, 0, n);
    } finally {
      fs.closeSync(dst);
    }
  } finally {
    fs.closeSync(src);
  }
}

/** Copies a new kept entry out: directories and regular files only, owned like `ownerOf`, never executable. */
function copyTree(from: string, to: string, ownerOf: fs.Stats, depth = 0): void {
  if (depth > 16) return;
  const st = fs.lstatSync(from);
  const root = process.getuid?.() === 0;
  if (st.isDirectory()) {
    fs.mkdirSync(to, { mode: 0o700 });
    if (root) fs.chownSync(to, ownerOf.uid, ownerOf.gid);
    for (const e of fs.readdirSync(from)) copyTree(path.join(from, e), path.join(to, e), ownerOf, depth + 1);
  } else if (st.isFile()) {
    copyRegular(from, to, st.mode & 0o666);
    if (root) fs.chownSync(to, ownerOf.uid, ownerOf.gid);
  }
}
