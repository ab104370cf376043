// `warden run --policy-ref REF:PATH`: the repository's policy as committed at REF (e.g.
// `origin/main:.warden/policy.yaml`), read from git objects, never from the working tree, and
// laid over the operator's base policy so that it can only tighten it (config/policy-merge.ts).
// The checked-out copy of the policy's directory is compared with the committed one: a change
// there (a pull request editing .warden/) has no effect, and is reported.
import fs from 'node:fs';
import path from 'node:path';
import type { RunPolicy } from '../sandbox/policy.js';
import { blobId, commitTree, entryAt, findRepo, GitReadError, listFiles, ObjectReader, resolveRef } from './git-objects.js';
import { ConfigError, parseYaml } from './load.js';
import { setKeys, tightenPolicy, type MergeNote } from './policy-merge.js';
import { parseRunPolicy } from './run-policy.js';

const MAX_POLICY = 1024 * 1024;
const MAX_WORKTREE_FILES = 1000;

export interface WorktreeChange {
  path: string;
  change: 'modified' | 'added' | 'deleted' | 'not_a_file';
}

/** What `sandbox.start` records as `data.policy_ref`. */
export interface PolicyRefRecord {
  ref: string;
  resolved: string;
  commit: string;
  path: string;
  blob: string;
  base: string;
  tightened: MergeNote[];
  ignored: MergeNote[];
  worktree_changes: WorktreeChange[];
}

export interface PolicyFromRef {
  policy: RunPolicy;
  record: PolicyRefRecord;
}

/** `REF:PATH` → its parts (a ref name cannot contain ":"). */
export function parsePolicyRef(spec: string): { ref: string; file: string } {
  const i = spec.indexOf(':');
  const ref = spec.slice(0, i);
  const file = spec.slice(i + 1).replace(/^\.\//, '');
  if (i <= 0 || !file || file.startsWith('/')) throw new ConfigError(spec, undefined, '--policy-ref', 'expected REF:PATH, e.g. origin/main:.warden/policy.yaml (PATH relative to the repository root)');
  return { ref, file };
}

/**
 * Reads the repository policy at `spec` in the repository holding `cwd`, and tightens `base`
 * with it. Errors name the ref and path (exit 2).
 */
export function policyFromRef(spec: string, base: RunPolicy, cwd = process.cwd()): PolicyFromRef {
  const { ref, file } = parsePolicyRef(spec);
  let text: string;
  let record: Omit<PolicyRefRecord, 'tightened' | 'ignored' | 'base'>;
  try {
    const repo = findRepo(cwd);
    const reader = new ObjectReader(repo);
    const resolved = resolveRef(repo, ref);
    const { commit, tree } = commitTree(reader, resolved.oid);
    const entry = entryAt(reader, tree, file);
    if (!entry) throw new GitReadError(`${file} does not exist at ${ref} (commit ${commit.slice(0, 12)})`);
    if (entry.mode !== '100644' && entry.mode !== '100755') throw new GitReadError(`${file} at ${ref} is not a regular file (mode ${entry.mode})`);
    const blob = reader.read(entry.oid);
    if (blob.data.length > MAX_POLICY) throw new GitReadError(`${file} at ${ref} is larger than ${MAX_POLICY} bytes`);
    text = blob.data.toString('utf8');
    record = { ref, resolved: resolved.name, commit, path: file, blob: entry.oid, worktree_changes: worktreeChanges(reader, repo.top, tree, file) };
  } catch (err) {
    if (err instanceof GitReadError) throw new ConfigError(spec, undefined, '--policy-ref', err.message);
    throw err;
  }
  const where = `${ref}:${file}`;
  const repoPolicy = parseRunPolicy(text, where);
  const keys = setKeys(parseYaml(text, where).value);
  const merged = tightenPolicy(base, repoPolicy, keys);
  // No file to reload: live reload of network.allow would re-read the base file and undo the merge.
  merged.policy.source = undefined;
  merged.policy.explicit = { networkMode: !!base.explicit?.networkMode || keys.has('network.mode') };
  return { policy: merged.policy, record: { ...record, base: base.source ?? 'built-in defaults', tightened: merged.tightened, ignored: merged.ignored } };
}

/**
 * The checked-out files of the policy's directory (`.warden/` for `.warden/policy.yaml`; the
 * file alone at the top level) that differ from the commit's. Read without following symlinks.
 */
export function worktreeChanges(reader: ObjectReader, top: string, tree: string, file: string): WorktreeChange[] {
  const dir = path.posix.dirname(file);
  const committed = new Map<string, string>();
  if (dir === '.') {
    const e = entryAt(reader, tree, file);
    if (e) committed.set(file, e.oid);
  } else {
    const d = entryAt(reader, tree, dir);
    if (d?.mode === '40000') for (const f of listFiles(reader, d.oid, MAX_WORKTREE_FILES)) committed.set(`${dir}/${f.path}`, f.mode === '120000' ? 'symlink' : f.oid);
  }
  const present = new Map<string, string>();
  const look = (rel: string, depth: number) => {
    if (present.size >= MAX_WORKTREE_FILES || depth > 16) return;
    const abs = path.join(top, rel);
    const st = fs.lstatSync(abs, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isDirectory()) {
      for (const n of fs.readdirSync(abs).sort()) look(`${rel}/${n}`, depth + 1);
      return;
    }
    present.set(rel, st.isFile() && st.size <= 16 * 1024 * 1024 ? blobId(readNoFollow(abs)) : st.isSymbolicLink() ? 'symlink' : 'other');
  };
  look(dir === '.' ? file : dir, 0);
  const out: WorktreeChange[] = [];
  for (const [p, id] of present) {
    const c = committed.get(p);
    if (c === undefined) out.push({ path: p, change: 'added' });
    else if (id === 'other' || (id === 'symlink') !== (c === 'symlink')) out.push({ path: p, change: 'not_a_file' });
    else if (id !== c) out.push({ path: p, change: 'modified' });
  }
  for (const p of committed.keys()) if (!present.has(p)) out.push({ path: p, change: 'deleted' });
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

function readNoFollow(p: string): Buffer {
  const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The merge as lines for stderr. */
export function describeMerge(r: PolicyRefRecord): string[] {
  const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  const lines = [`policy from ${r.ref}:${r.path} (commit ${r.commit.slice(0, 12)}, ${r.resolved}) laid over ${r.base}: it can only tighten it`];
  if (!r.tightened.length && !r.ignored.length) lines.push('  no change to the base policy');
  for (const t of r.tightened) lines.push(`  ${t.key}: ${show(t.value)} (${t.detail})`);
  for (const i of r.ignored) lines.push(`  not taken: ${i.key} ${show(i.value)} (${i.detail})`);
  for (const w of r.worktree_changes)
    lines.push(`  the checked-out ${w.path} is ${w.change.replace('_', ' ')} compared with ${r.ref}: it has no effect on this run`);
  return lines;
}
