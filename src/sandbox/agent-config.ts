// An agent's settings files that mix preferences with programs to run (Claude Code's hooks and
// MCP servers in settings.json, Codex's mcp_servers and notify in config.toml, Gemini CLI's
// mcpServers): its profile lets the agent write them (it saves preferences there), but what it
// changed among the keys that run programs is undone after the run, the agent's version kept
// beside the file, and reported as an alert: a prompt-injected session must not make the
// user's next session run something.
import fs from 'node:fs';
import path from 'node:path';
import { changedKeys } from './scratch-home.js';

export interface JudgedFile {
  path: string;
  format: 'json' | 'toml';
  keys: string[];
  /** Content before the run (undefined: it did not exist). */
  before?: string;
  ino?: number;
}

const MAX = 1 << 20;

export function snapshotJudged(files: Array<{ path: string; format: 'json' | 'toml'; keys: string[] }>): JudgedFile[] {
  return files.map((f) => {
    try {
      const st = fs.lstatSync(f.path);
      if (!st.isFile() || st.size > MAX) return { ...f, before: '', ino: st.ino };
      return { ...f, before: fs.readFileSync(f.path, 'utf8'), ino: st.ino };
    } catch {
      return { ...f };
    }
  });
}

export interface JudgedChange {
  path: string;
  keys: string[];
  keptAs?: string;
  restored: boolean;
  error?: string;
}

/** TOML, read shallowly: `table.key = value` lines whose table or key names one of `keys`. */
function tomlLines(text: string, keys: readonly string[]): Set<string> {
  const out = new Set<string>();
  let table = '';
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').trim();
    if (!line || line.startsWith('#')) continue;
    const t = /^\[\[?\s*([^\]]+?)\s*\]\]?$/.exec(line);
    if (t) {
      table = t[1]!;
      if (keys.some((k) => table.split('.').includes(k))) out.add(`[${table}]`);
      continue;
    }
    const kv = /^("?[^"=]+"?)\s*=/.exec(line);
    const key = kv?.[1]?.replace(/"/g, '').trim();
    if (key && (keys.includes(key) || keys.some((k) => table.split('.').includes(k)))) out.add(`${table}.${line}`);
  }
  return out;
}

/** What changed among the program-running keys of one file. */
export function judgedChanges(f: { format: 'json' | 'toml'; keys: string[] }, before: string | undefined, after: string): string[] {
  if (f.format === 'json') {
    const parse = (t: string | undefined) => {
      if (t === undefined || t.trim() === '') return {};
      try {
        return JSON.parse(t) as unknown;
      } catch {
        return undefined;
      }
    };
    const a = parse(before);
    const b = parse(after);
    if (b === undefined) return ['(not valid JSON)'];
    return changedKeys(a, b, f.keys);
  }
  const a = tomlLines(before ?? '', f.keys);
  const b = tomlLines(after, f.keys);
  return [...new Set([...[...a].filter((x) => !b.has(x)), ...[...b].filter((x) => !a.has(x))])].map((l) => l.slice(0, 80));
}

/** After the run: undoes changes to program-running keys (the agent's version kept beside). */
export function checkJudged(files: JudgedFile[], id: string): JudgedChange[] {
  const out: JudgedChange[] = [];
  for (const f of files) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(f.path);
    } catch {
      continue;
    }
    if (!st.isFile()) {
      out.push({ path: f.path, keys: ['(not a regular file)'], restored: false, ...aside(f, id) });
      continue;
    }
    if (st.size > MAX) continue;
    const after = fs.readFileSync(f.path, 'utf8');
    if (after === f.before) continue;
    const keys = judgedChanges(f, f.before, after);
    if (!keys.length) continue;
    const moved = aside(f, id);
    let restored = false;
    if (moved.keptAs && f.before !== undefined) {
      try {
        const tmp = `${f.path}.warden-tmp-${process.pid}`;
        fs.writeFileSync(tmp, f.before, { mode: st.mode & 0o777, flag: 'wx' });
        if (process.getuid?.() === 0) fs.chownSync(tmp, st.uid, st.gid);
        fs.renameSync(tmp, f.path);
        restored = true;
      } catch (err) {
        moved.error = (err as Error).message;
      }
    }
    out.push({ path: f.path, keys, restored, ...moved });
  }
  return out;
}

function aside(f: JudgedFile, id: string): { keptAs?: string; error?: string } {
  const to = `${f.path}.warden-${id}`;
  try {
    fs.renameSync(f.path, to);
    return { keptAs: to };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

export function resolveHome(p: string, home: string): string {
  return p.startsWith('~/') ? path.join(home, p.slice(2)) : p;
}
