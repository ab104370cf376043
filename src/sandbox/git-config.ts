// A reader for git's config format (sections, subsections, quoted values, continuations) and
// the list of keys that make git run a program. Used to find what a sandbox must not be able
// to change in a repository (core.hooksPath, included files) and to judge config files the
// sandbox created (a fresh `git init` is fine; a new core.fsmonitor is an attack on the host).
import fs from 'node:fs';

export interface GitConfigEntry {
  /** Lower-cased section, subsection as written (case-sensitive), lower-cased key. */
  section: string;
  subsection?: string;
  key: string;
  value: string | true;
}

/** Parses config text; unparseable lines are skipped (git would refuse them, so would we: see `valid`). */
export function parseGitConfig(text: string): { entries: GitConfigEntry[]; valid: boolean; continued: boolean } {
  const entries: GitConfigEntry[] = [];
  let valid = true;
  let continued = false;
  let section: string | undefined;
  let subsection: string | undefined;
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    // A comment line ends at its newline, backslash or not (git's rule).
    if (/^\s*[#;]/.test(line) || line.trim() === '') continue;
    // Continuation lines: a value ending in an unescaped backslash goes on.
    while (/(^|[^\\])(\\\\)*\\$/.test(line) && i + 1 < lines.length) {
      continued = true;
      line = line.slice(0, -1) + lines[++i]!;
    }
    let rest = line.trimStart();
    if (rest.startsWith('[')) {
      const m = /^\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]/.exec(rest);
      if (!m) {
        valid = false;
        section = undefined;
        continue;
      }
      const name = m[1]!;
      if (m[2] !== undefined) {
        section = name.toLowerCase();
        subsection = m[2].replace(/\\(.)/g, '$1');
      } else {
        // [section.sub] (old syntax): the subsection is lower-cased by git.
        const dot = name.indexOf('.');
        section = (dot >= 0 ? name.slice(0, dot) : name).toLowerCase();
        subsection = dot >= 0 ? name.slice(dot + 1).toLowerCase() : undefined;
      }
      rest = rest.slice(m[0].length).trimStart();
      if (rest === '' || rest.startsWith('#') || rest.startsWith(';')) continue;
    }
    if (!section) {
      valid = false;
      continue;
    }
    const km = /^([A-Za-z][A-Za-z0-9-]*)\s*(=\s*(.*))?$/.exec(rest);
    if (!km) {
      valid = false;
      continue;
    }
    entries.push({ section, subsection, key: km[1]!.toLowerCase(), value: km[2] === undefined ? true : unquote(km[3]!) });
  }
  return { entries, valid, continued };
}

function unquote(raw: string): string {
  let out = '';
  let quoted = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '"') quoted = !quoted;
    else if (c === '\\' && i + 1 < raw.length) {
      const n = raw[++i]!;
      out += n === 'n' ? '\n' : n === 't' ? '\t' : n === 'b' ? '\b' : n;
    } else if (!quoted && (c === '#' || c === ';')) break;
    else out += c;
  }
  return out.trim();
}

/**
 * Keys whose value git runs (or that decide what git runs): `section.key` with `*` for any
 * subsection. From git-config(1): hooks, fsmonitor, pagers and editors, filters and diff
 * drivers, credential helpers, transports, includes, aliases and tool commands.
 */
const EXEC_KEYS: ReadonlyArray<[string, string | undefined, string]> = [
  ['core', undefined, 'hookspath'],
  ['core', undefined, 'fsmonitor'],
  ['core', undefined, 'sshcommand'],
  ['core', undefined, 'pager'],
  ['core', undefined, 'editor'],
  ['core', undefined, 'askpass'],
  ['core', undefined, 'gitproxy'],
  ['core', undefined, 'alternaterefscommand'],
  ['include', undefined, 'path'],
  ['includeif', '*', 'path'],
  ['alias', undefined, '*'],
  ['diff', undefined, 'external'],
  ['diff', '*', 'textconv'],
  ['diff', '*', 'command'],
  ['filter', '*', '*'],
  ['merge', '*', 'driver'],
  ['credential', undefined, 'helper'],
  ['credential', '*', 'helper'],
  ['gpg', undefined, 'program'],
  ['gpg', '*', 'program'],
  ['sequence', undefined, 'editor'],
  ['pager', undefined, '*'],
  ['difftool', '*', 'cmd'],
  ['difftool', '*', 'path'],
  ['mergetool', '*', 'cmd'],
  ['mergetool', '*', 'path'],
  ['remote', '*', 'uploadpack'],
  ['remote', '*', 'receivepack'],
  ['remote', '*', 'vcs'],
  ['uploadpack', undefined, 'packobjectshook'],
  ['protocol', undefined, 'allow'],
  ['protocol', '*', 'allow'],
  ['url', '*', 'insteadof'],
  ['url', '*', 'pushinsteadof'],
  ['web', undefined, 'browser'],
  ['browser', '*', 'cmd'],
  ['browser', '*', 'path'],
  ['man', undefined, 'viewer'],
  ['man', '*', 'cmd'],
  ['man', '*', 'path'],
  ['guitool', '*', 'cmd'],
  ['sendemail', undefined, 'smtpserver'],
  ['sendemail', '*', 'smtpserver'],
  ['sendemail', undefined, 'tocmd'],
  ['sendemail', undefined, 'cccmd'],
  ['sendemail', undefined, 'headercmd'],
  ['init', undefined, 'templatedir'],
  ['submodule', '*', 'update'],
  ['trailer', '*', 'command'],
  ['trailer', '*', 'cmd'],
  ['hook', '*', 'command'],
];

/**
 * What git itself writes into a repository's config (init, clone, submodule, worktree, fetch,
 * branch tracking) and user settings that run nothing: a config the sandbox created may hold
 * these and nothing else. `*` as subsection: any; undefined: none.
 */
const SAFE_KEYS: ReadonlyArray<[string, string | undefined | '*', string[]]> = [
  ['core', undefined, ['repositoryformatversion', 'filemode', 'bare', 'logallrefupdates', 'ignorecase', 'precomposeunicode', 'symlinks', 'autocrlf', 'eol', 'safecrlf', 'quotepath', 'compression', 'loosecompression', 'sparsecheckout', 'sparsecheckoutcone', 'checkstat', 'trustctime', 'abbrev', 'commentchar', 'commentstring', 'multipackindex', 'commitgraph', 'preloadindex', 'untrackedcache', 'splitindex', 'fsync', 'fsyncmethod', 'worktree']],
  ['remote', '*', ['url', 'pushurl', 'fetch', 'push', 'tagopt', 'prune', 'prunetags', 'mirror', 'skipdefaultupdate', 'skipfetchall', 'promisor', 'partialclonefilter']],
  ['branch', '*', ['remote', 'merge', 'rebase', 'pushremote', 'description']],
  ['submodule', '*', ['url', 'active', 'branch', 'ignore', 'shallow', 'fetchrecursesubmodules', 'update']],
  ['submodule', undefined, ['active', 'recurse', 'fetchjobs']],
  ['user', undefined, ['name', 'email', 'useconfigonly']],
  ['author', undefined, ['name', 'email']],
  ['committer', undefined, ['name', 'email']],
  ['extensions', undefined, ['objectformat', 'worktreeconfig', 'refstorage', 'preciousobjects', 'partialclone', 'noop', 'compatobjectformat']],
  ['init', undefined, ['defaultbranch']],
  ['pull', undefined, ['rebase', 'ff']],
  ['push', undefined, ['default', 'autosetupremote', 'followtags']],
  ['fetch', undefined, ['prune', 'prunetags', 'recursesubmodules', 'writecommitgraph', 'parallel']],
  ['rebase', undefined, ['autosquash', 'autostash', 'updaterefs']],
  ['merge', undefined, ['ff', 'conflictstyle']],
  ['diff', undefined, ['renames', 'algorithm', 'colormoved', 'mnemonicprefix', 'noprefix', 'submodule']],
  ['status', undefined, ['showuntrackedfiles', 'submodulesummary', 'short', 'branch']],
  ['gc', undefined, ['auto', 'autodetach', 'reflogexpire', 'reflogexpireunreachable', 'pruneexpire', 'autopacklimit']],
  ['lfs', undefined, ['repositoryformatversion']],
  ['color', '*', ['*']],
  ['color', undefined, ['*']],
  ['advice', undefined, ['*']],
];

/** Keys of `entries` that are not known to be safe in a config the sandbox created (names as section.sub.key). */
export function unsafeKeys(entries: readonly GitConfigEntry[]): string[] {
  const out: string[] = [];
  for (const e of entries) {
    const name = [e.section, e.subsection, e.key].filter((x) => x !== undefined).join('.');
    const ok = SAFE_KEYS.some(([s, sub, keys]) => s === e.section && (sub === '*' ? e.subsection !== undefined : e.subsection === undefined) && (keys.includes('*') || keys.includes(e.key)));
    const v = typeof e.value === 'string' ? e.value : '';
    // Transports that run programs (ext::, fd::) and submodule update commands ("!cmd").
    const badValue = /^\s*(ext|fd)::/i.test(v) || (e.section === 'submodule' && e.key === 'update' && v.trim().startsWith('!'));
    if (!ok || badValue) out.push(name);
  }
  return out;
}

/** The keys of `entries` that make git run something (`section.sub.key` names). */
export function execKeys(entries: readonly GitConfigEntry[]): string[] {
  const out: string[] = [];
  for (const e of entries) {
    const hit = EXEC_KEYS.some(([s, sub, k]) => s === e.section && (sub === undefined ? e.subsection === undefined : e.subsection !== undefined) && (k === '*' || k === e.key));
    // submodule.<name>.update is only dangerous as "!command"
    if (hit && !(e.section === 'submodule' && typeof e.value === 'string' && !e.value.startsWith('!')))
      out.push([e.section, e.subsection, e.key].filter((x) => x !== undefined).join('.'));
  }
  return out;
}

/** Parsed config files by path, with the identity and times they were read at (the supervisor reads the same ones after every run). */
const parsed = new Map<string, { id: string; entries: readonly GitConfigEntry[] }>();

/** Reads and parses a config file; undefined when unreadable or larger than `max` bytes. */
export function readGitConfig(file: string, max = 1 << 20): readonly GitConfigEntry[] | undefined {
  try {
    const st = fs.statSync(file, { bigint: true });
    if (!st.isFile() || st.size > BigInt(max)) return undefined;
    // Any write changes the ctime (ns), a replacement the inode: then it is read again.
    const id = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    const hit = parsed.get(file);
    if (hit?.id === id) return hit.entries;
    const entries = Object.freeze(parseGitConfig(fs.readFileSync(file, 'utf8')).entries);
    if (parsed.size >= 256) parsed.clear();
    parsed.set(file, { id, entries });
    return entries;
  } catch {
    return undefined;
  }
}

export function values(entries: readonly GitConfigEntry[], section: string, key: string, anySubsection = false): string[] {
  return entries
    .filter((e) => e.section === section && e.key === key && (anySubsection || e.subsection === undefined) && typeof e.value === 'string')
    .map((e) => e.value as string);
}
