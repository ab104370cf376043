// Reads a file as committed in a git repository (`origin/main:.warden/policy.yaml`) from the
// objects themselves, without running git. The repository is untrusted: running git in it
// would read its config (replace refs that swap the blob, a promisor remote fetched through a
// command, includes, fsmonitor, safe.directory as root...), so nothing here executes anything.
// Refs (loose and packed, symbolic), loose objects, pack files (index v2, ofs/ref deltas) and
// tag/commit/tree walking are read with bounded sizes, only regular files, no symlinks
// followed inside the git directory, every object checked against its id.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

export class GitReadError extends Error {}

const MAX_REF_FILE = 4096;
const MAX_PACKED_REFS = 64 * 1024 * 1024;
const MAX_OBJECT = 16 * 1024 * 1024;
const MAX_DELTA_CHAIN = 64;
const MAX_SYMREF_DEPTH = 5;

/** A repository's directories: `gitDir` holds HEAD; `commonDir` holds refs and objects (they differ in a linked worktree). */
export interface Repo {
  gitDir: string;
  commonDir: string;
  /** The top of the working tree (where `.git` was found). */
  top: string;
}

export interface GitObject {
  type: 'commit' | 'tree' | 'blob' | 'tag';
  data: Buffer;
}

const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;
const O_NONBLOCK = fs.constants.O_NONBLOCK ?? 0;

/** Opens a regular file without following a symlink at its last component, or undefined when absent. */
function openRegular(p: string): { fd: number; size: number } | undefined {
  let fd: number;
  try {
    fd = fs.openSync(p, fs.constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'ELOOP') throw new GitReadError(`${p} is a symlink: refused`);
    throw new GitReadError(`${p}: ${code ?? (err as Error).message}`);
  }
  const st = fs.fstatSync(fd);
  if (!st.isFile()) {
    fs.closeSync(fd);
    throw new GitReadError(`${p} is not a regular file: refused`);
  }
  return { fd, size: st.size };
}

function readSmall(p: string, max: number): Buffer | undefined {
  const f = openRegular(p);
  if (!f) return undefined;
  try {
    if (f.size > max) throw new GitReadError(`${p} is larger than ${max} bytes: refused`);
    const buf = Buffer.alloc(f.size);
    let off = 0;
    while (off < f.size) {
      const n = fs.readSync(f.fd, buf, off, f.size - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    fs.closeSync(f.fd);
  }
}

/**
 * The repository that holds `dir`: the nearest `.git` directory or `.git` file (`gitdir: …`)
 * at or above it, and its common directory (`commondir`, for linked worktrees).
 */
export function findRepo(dir: string): Repo {
  let cur = path.resolve(dir);
  for (;;) {
    const dotgit = path.join(cur, '.git');
    const st = fs.lstatSync(dotgit, { throwIfNoEntry: false });
    if (st?.isDirectory()) return withCommon(dotgit, cur);
    if (st?.isFile()) {
      const text = readSmall(dotgit, MAX_REF_FILE)!.toString('utf8');
      const m = /^gitdir: (.+?)\r?\n?$/.exec(text);
      if (!m) throw new GitReadError(`${dotgit}: not a "gitdir:" file`);
      return withCommon(path.resolve(cur, m[1]!), cur);
    }
    const up = path.dirname(cur);
    if (up === cur) throw new GitReadError(`${dir} is not inside a git repository`);
    cur = up;
  }
}

function withCommon(gitDir: string, top: string): Repo {
  const c = readSmall(path.join(gitDir, 'commondir'), MAX_REF_FILE);
  const commonDir = c ? path.resolve(gitDir, c.toString('utf8').replace(/\r?\n$/, '')) : gitDir;
  const cfg = readSmall(path.join(commonDir, 'config'), 1024 * 1024)?.toString('utf8') ?? '';
  // Only the object format matters here: the config is otherwise never interpreted.
  if (/^\s*objectformat\s*=\s*sha256\s*$/im.test(cfg)) throw new GitReadError('SHA-256 repositories are not supported');
  return { gitDir, commonDir, top };
}

const HEX40 = /^[0-9a-f]{40}$/;

function checkRefName(name: string): void {
  // git's own rules, enough to keep a name inside refs/: no "..", no control characters, no leading "/" or "-".
  if (!name || name.startsWith('/') || name.startsWith('-') || name.endsWith('/') || name.endsWith('.lock') || name.includes('..') || name.includes('//') || name.includes('@{') || /[\x00-\x20\x7f~^:?*[\\]/.test(name))
    throw new GitReadError(`"${name}" is not a valid ref name`);
}

function packedRefs(repo: Repo): Map<string, string> {
  const out = new Map<string, string>();
  const buf = readSmall(path.join(repo.commonDir, 'packed-refs'), MAX_PACKED_REFS);
  if (!buf) return out;
  for (const line of buf.toString('utf8').split('\n')) {
    const m = /^([0-9a-f]{40}) (refs\/\S+)$/.exec(line);
    if (m) out.set(m[2]!, m[1]!);
  }
  return out;
}

/** The object id a full ref name points to (following symbolic refs), or undefined when it does not exist. */
function readRef(repo: Repo, full: string, packed: Map<string, string>, depth = 0): string | undefined {
  if (depth > MAX_SYMREF_DEPTH) throw new GitReadError(`${full}: symbolic refs nested too deep`);
  checkRefName(full);
  // Pseudo refs (HEAD, FETCH_HEAD...) live in the worktree's own git directory.
  const base = full.startsWith('refs/') ? repo.commonDir : repo.gitDir;
  const text = readSmall(path.join(base, full), MAX_REF_FILE)?.toString('utf8');
  if (text !== undefined) {
    const line = text.split('\n')[0]!.trim();
    if (HEX40.test(line)) return line;
    const sym = /^ref: (\S+)$/.exec(line);
    if (sym) return readRef(repo, sym[1]!, packed, depth + 1);
    // FETCH_HEAD: "<oid>\t\tbranch 'main' of …"
    const first = /^([0-9a-f]{40})\s/.exec(line);
    if (first) return first[1];
    throw new GitReadError(`${full}: not a ref`);
  }
  return packed.get(full);
}

export interface ResolvedRef {
  /** The full ref name (`refs/remotes/origin/main`), or the id itself when one was given. */
  name: string;
  oid: string;
}

/**
 * Resolves a ref the way `git rev-parse` does (NAME, refs/NAME, refs/tags/NAME,
 * refs/heads/NAME, refs/remotes/NAME, refs/remotes/NAME/HEAD) — except that a name several
 * of those lead to is refused instead of taking the first: a branch named `origin/main`
 * would otherwise stand in for the remote's `main`.
 */
export function resolveRef(repo: Repo, ref: string): ResolvedRef {
  if (HEX40.test(ref)) return { name: ref, oid: ref };
  checkRefName(ref);
  const packed = packedRefs(repo);
  const candidates = ref.startsWith('refs/') || /^[A-Z_]+$/.test(ref) ? [ref] : [ref, `refs/${ref}`, `refs/tags/${ref}`, `refs/heads/${ref}`, `refs/remotes/${ref}`, `refs/remotes/${ref}/HEAD`];
  const found: ResolvedRef[] = [];
  for (const c of candidates) {
    if (c === ref && !/^(refs\/|[A-Z_]+$)/.test(c)) continue; // "origin/main" is not a file at the top of .git
    let oid: string | undefined;
    try {
      oid = readRef(repo, c, packed);
    } catch (err) {
      if (c === ref) throw err;
      continue; // a candidate spelled so that it is not a valid ref name
    }
    if (oid) found.push({ name: c, oid });
  }
  if (!found.length) throw new GitReadError(`ref "${ref}" not found in ${repo.commonDir} (fetch it first, e.g. git fetch origin main)`);
  if (found.length > 1)
    throw new GitReadError(`ref "${ref}" is ambiguous (${found.map((f) => f.name).join(', ')}): name it in full, e.g. ${found[found.length - 1]!.name}`);
  return found[0]!;
}

// ------------------------------------------------------------------ objects

const TYPES = { 1: 'commit', 2: 'tree', 3: 'blob', 4: 'tag' } as const;

interface PackIndex {
  idx: string;
  pack: string;
  count: number;
  fanout: Uint32Array;
  names: Buffer;
  offsets: Buffer;
  large: Buffer;
}

export class ObjectReader {
  private packs: PackIndex[] | undefined;

  constructor(readonly repo: Repo) {}

  read(oid: string): GitObject {
    if (!HEX40.test(oid)) throw new GitReadError(`"${oid}" is not an object id`);
    const obj = this.readLoose(oid) ?? this.readPacked(oid, 0);
    if (!obj) throw new GitReadError(`object ${oid} is not in ${this.repo.commonDir}/objects (a shallow or partial clone? fetch the ref)`);
    // The id is the hash of the content: a tampered object file is refused, not read.
    const h = crypto.createHash('sha1').update(`${obj.type} ${obj.data.length}\0`).update(obj.data).digest('hex');
    if (h !== oid) throw new GitReadError(`object ${oid} does not match its content (corrupt or tampered repository)`);
    return obj;
  }

  private readLoose(oid: string): GitObject | undefined {
    const f = openRegular(path.join(this.repo.commonDir, 'objects', oid.slice(0, 2), oid.slice(2)));
    if (!f) return undefined;
    let raw: Buffer;
    try {
      if (f.size > MAX_OBJECT * 2) throw new GitReadError(`object ${oid} is too large`);
      raw = Buffer.alloc(f.size);
      fs.readSync(f.fd, raw, 0, f.size, 0);
    } finally {
      fs.closeSync(f.fd);
    }
    const data = inflate(raw, MAX_OBJECT + 64);
    const nul = data.indexOf(0);
    const m = /^(commit|tree|blob|tag) (\d+)$/.exec(data.subarray(0, Math.max(0, nul)).toString('latin1'));
    if (nul < 0 || !m) throw new GitReadError(`object ${oid}: bad header`);
    const body = data.subarray(nul + 1);
    if (body.length !== Number(m[2])) throw new GitReadError(`object ${oid}: size mismatch`);
    return { type: m[1] as GitObject['type'], data: body };
  }

  private indexes(): PackIndex[] {
    if (this.packs) return this.packs;
    const dir = path.join(this.repo.commonDir, 'objects', 'pack');
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir).filter((n) => /^pack-[0-9a-f]+\.idx$/.test(n)).slice(0, 1000);
    } catch {
      /* no packs */
    }
    this.packs = names.map((n) => loadIndex(path.join(dir, n)));
    return this.packs;
  }

  private readPacked(oid: string, depth: number): GitObject | undefined {
    const want = Buffer.from(oid, 'hex');
    for (const p of this.indexes()) {
      const off = findOffset(p, want);
      if (off !== undefined) return this.readAt(p, off, depth);
    }
    return undefined;
  }

  private readAt(p: PackIndex, offset: number, depth: number): GitObject {
    if (depth > MAX_DELTA_CHAIN) throw new GitReadError(`${p.pack}: delta chain too long`);
    const f = openRegular(p.pack);
    if (!f) throw new GitReadError(`${p.pack} is missing`);
    try {
      const head = Buffer.alloc(32);
      fs.readSync(f.fd, head, 0, 32, offset);
      let i = 0;
      let c = head[i++]!;
      const type = (c >> 4) & 7;
      let size = c & 15;
      let shift = 4;
      while (c & 0x80) {
        c = head[i++]!;
        size += (c & 0x7f) * 2 ** shift;
        shift += 7;
      }
      if (size > MAX_OBJECT) throw new GitReadError(`object at ${offset} in ${p.pack} is too large`);
      let base: GitObject | undefined;
      if (type === 6) {
        c = head[i++]!;
        let rel = c & 0x7f;
        while (c & 0x80) {
          c = head[i++]!;
          rel = (rel + 1) * 128 + (c & 0x7f);
        }
        if (rel <= 0 || rel > offset) throw new GitReadError(`${p.pack}: bad delta base offset`);
        base = this.readAt(p, offset - rel, depth + 1);
      } else if (type === 7) {
        const baseId = head.subarray(i, i + 20).toString('hex');
        i += 20;
        base = this.readLoose(baseId) ?? this.readPacked(baseId, depth + 1);
        if (!base) throw new GitReadError(`${p.pack}: delta base ${baseId} missing`);
      } else if (!(type in TYPES)) throw new GitReadError(`${p.pack}: unknown object type ${type} at ${offset}`);
      // Compressed data is at most a little larger than what it inflates to.
      const room = Math.min(f.size - offset - i, size + 1024 + Math.ceil(size / 100));
      const comp = Buffer.alloc(Math.max(0, room));
      fs.readSync(f.fd, comp, 0, comp.length, offset + i);
      const data = inflate(comp, size);
      if (data.length !== size) throw new GitReadError(`${p.pack}: object at ${offset} has the wrong size`);
      if (!base) return { type: TYPES[type as keyof typeof TYPES], data };
      return { type: base.type, data: applyDelta(base.data, data) };
    } finally {
      fs.closeSync(f.fd);
    }
  }
}

function inflate(buf: Buffer, max: number): Buffer {
  try {
    return zlib.inflateSync(buf, { maxOutputLength: Math.max(max, 1) });
  } catch (err) {
    throw new GitReadError(`cannot inflate an object: ${(err as Error).message}`);
  }
}

function loadIndex(idx: string): PackIndex {
  const buf = readSmall(idx, 1024 * 1024 * 1024);
  if (!buf || buf.length < 8 + 1024 || buf.readUInt32BE(0) !== 0xff744f63 || buf.readUInt32BE(4) !== 2) throw new GitReadError(`${idx}: not a version 2 pack index`);
  const fanout = new Uint32Array(256);
  for (let i = 0; i < 256; i++) fanout[i] = buf.readUInt32BE(8 + i * 4);
  const count = fanout[255]!;
  const namesAt = 8 + 1024;
  const offsetsAt = namesAt + count * 20 + count * 4; // after the names and the CRCs
  if (buf.length < offsetsAt + count * 4 + 40) throw new GitReadError(`${idx}: truncated`);
  return {
    idx,
    pack: idx.replace(/\.idx$/, '.pack'),
    count,
    fanout,
    names: buf.subarray(namesAt, namesAt + count * 20),
    offsets: buf.subarray(offsetsAt, offsetsAt + count * 4),
    large: buf.subarray(offsetsAt + count * 4, buf.length - 40),
  };
}

function findOffset(p: PackIndex, want: Buffer): number | undefined {
  let lo = want[0]! === 0 ? 0 : p.fanout[want[0]! - 1]!;
  let hi = p.fanout[want[0]!]!;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const cmp = p.names.compare(want, 0, 20, mid * 20, mid * 20 + 20);
    if (cmp === 0) {
      const o = p.offsets.readUInt32BE(mid * 4);
      if (!(o & 0x80000000)) return o;
      const li = (o & 0x7fffffff) * 8;
      if (li + 8 > p.large.length) throw new GitReadError(`${p.idx}: bad large offset`);
      return Number(p.large.readBigUInt64BE(li));
    }
    if (cmp > 0) hi = mid;
    else lo = mid + 1;
  }
  return undefined;
}

/** git's delta format: source size, target size, then copy (from the base) and insert instructions. */
export function applyDelta(base: Buffer, delta: Buffer): Buffer {
  let i = 0;
  const varint = () => {
    let v = 0;
    let shift = 0;
    let c: number;
    do {
      if (i >= delta.length) throw new GitReadError('truncated delta');
      c = delta[i++]!;
      v += (c & 0x7f) * 2 ** shift;
      shift += 7;
    } while (c & 0x80);
    return v;
  };
  if (varint() !== base.length) throw new GitReadError('delta does not apply to its base');
  const size = varint();
  if (size > MAX_OBJECT) throw new GitReadError('delta result too large');
  const out = Buffer.alloc(size);
  let o = 0;
  while (i < delta.length) {
    const op = delta[i++]!;
    if (op & 0x80) {
      let off = 0;
      let len = 0;
      for (let b = 0; b < 4; b++) if (op & (1 << b)) off |= delta[i++]! << (8 * b);
      for (let b = 0; b < 3; b++) if (op & (0x10 << b)) len |= delta[i++]! << (8 * b);
      off >>>= 0;
      if (len === 0) len = 0x10000;
      if (off + len > base.length || o + len > size) throw new GitReadError('delta copies out of range');
      base.copy(out, o, off, off + len);
      o += len;
    } else if (op) {
      if (i + op > delta.length || o + op > size) throw new GitReadError('delta inserts out of range');
      delta.copy(out, o, i, i + op);
      i += op;
      o += op;
    } else throw new GitReadError('delta opcode 0');
  }
  if (o !== size) throw new GitReadError('delta result has the wrong size');
  return out;
}

// ------------------------------------------------------------------ trees

export interface TreeEntry {
  mode: string;
  name: string;
  oid: string;
}

export function parseTree(data: Buffer): TreeEntry[] {
  const out: TreeEntry[] = [];
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    const nul = data.indexOf(0, sp + 1);
    if (sp < 0 || nul < 0 || nul + 21 > data.length) throw new GitReadError('malformed tree');
    out.push({ mode: data.toString('latin1', i, sp), name: data.toString('utf8', sp + 1, nul), oid: data.toString('hex', nul + 1, nul + 21) });
    i = nul + 21;
  }
  return out;
}

/** The tree of a commit (tags peeled). */
export function commitTree(r: ObjectReader, oid: string): { commit: string; tree: string } {
  let cur = oid;
  for (let n = 0; n < 10; n++) {
    const o = r.read(cur);
    const head = o.data.toString('utf8', 0, Math.min(o.data.length, 4096));
    if (o.type === 'tag') {
      const m = /^object ([0-9a-f]{40})$/m.exec(head);
      if (!m) throw new GitReadError(`tag ${cur} names no object`);
      cur = m[1]!;
      continue;
    }
    if (o.type === 'commit') {
      const m = /^tree ([0-9a-f]{40})$/m.exec(head);
      if (!m) throw new GitReadError(`commit ${cur} names no tree`);
      return { commit: cur, tree: m[1]! };
    }
    throw new GitReadError(`${cur} is a ${o.type}, not a commit`);
  }
  throw new GitReadError(`${oid}: tags nested too deep`);
}

/** The entry at `file` (a/b/c) under a tree, or undefined when there is none. */
export function entryAt(r: ObjectReader, tree: string, file: string): TreeEntry | undefined {
  const parts = file.split('/').filter(Boolean);
  if (!parts.length || parts.some((p) => p === '.' || p === '..')) throw new GitReadError(`"${file}" is not a path inside the repository`);
  let cur: TreeEntry = { mode: '40000', name: '', oid: tree };
  for (const part of parts) {
    if (cur.mode !== '40000') return undefined;
    const t = r.read(cur.oid);
    if (t.type !== 'tree') throw new GitReadError(`${cur.oid} is not a tree`);
    const next = parseTree(t.data).find((e) => e.name === part);
    if (!next) return undefined;
    cur = next;
  }
  return cur;
}

/** Every file under a tree, with its path relative to it (bounded). */
export function listFiles(r: ObjectReader, tree: string, max = 1000): Array<{ path: string; mode: string; oid: string }> {
  const out: Array<{ path: string; mode: string; oid: string }> = [];
  const walk = (oid: string, prefix: string, depth: number) => {
    if (depth > 32 || out.length >= max) return;
    for (const e of parseTree(r.read(oid).data)) {
      if (out.length >= max) return;
      if (e.mode === '40000') walk(e.oid, `${prefix}${e.name}/`, depth + 1);
      else out.push({ path: prefix + e.name, mode: e.mode, oid: e.oid });
    }
  };
  walk(tree, '', 0);
  return out;
}

/** The id git gives a file's content as a blob. */
export function blobId(content: Buffer): string {
  return crypto.createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}
