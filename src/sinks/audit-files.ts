// Names of the audit log's rotated backups, shared by the writer (rotation, pruning) and the
// readers (`warden events`, the API). A backup of `dir/events.ndjson` is
// `dir/events-20260101T000000.123Z.ndjson`, later `...ndjson.gz`: the UTC stamp sorts
// lexically in rotation order, and a reader can tell a backup from the live file by name.
import fs from 'node:fs';
import path from 'node:path';

export interface Backup {
  /** Full path of the file to read (the .gz when both exist). */
  path: string;
  /** Rotation time stamp as in the name, e.g. 20260101T000000.123Z. */
  stamp: string;
  /** Epoch ms of the stamp. */
  ms: number;
  gz: boolean;
}

function split(file: string): { dir: string; stem: string; ext: string } {
  const dir = path.dirname(file);
  const base = path.basename(file);
  const ext = path.extname(base);
  return { dir, stem: ext ? base.slice(0, -ext.length) : base, ext };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function stampOf(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '');
}

export function msOfStamp(stamp: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z$/.exec(stamp);
  if (!m) return NaN;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!);
}

/** Uncompressed backup path for a rotation at `ms`. */
export function backupPath(file: string, ms: number): string {
  const { dir, stem, ext } = split(file);
  return path.join(dir, `${stem}-${stampOf(ms)}${ext}`);
}

function backupRe(file: string): RegExp {
  const { stem, ext } = split(file);
  return new RegExp(`^${escapeRe(stem)}-(\\d{8}T\\d{6}\\.\\d{3}Z)${escapeRe(ext)}(\\.gz)?$`);
}

export interface BackupScan {
  /** Oldest first; one entry per stamp (the .gz when a crash left both). */
  backups: Backup[];
  /** Uncompressed files whose .gz also exists (a crash between rename and unlink). */
  duplicates: string[];
  /** Partial compression output (`.gz.tmp`) left by a crash. */
  temps: string[];
}

export function scanBackups(file: string): BackupScan {
  const { dir } = split(file);
  const re = backupRe(file);
  const tmpRe = new RegExp(re.source.replace(/\(\\\.gz\)\?\$$/, '\\.gz\\.tmp$'));
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return { backups: [], duplicates: [], temps: [] };
  }
  const byStamp = new Map<string, Backup>();
  const duplicates: string[] = [];
  const temps: string[] = [];
  for (const n of names) {
    if (tmpRe.test(n)) {
      temps.push(path.join(dir, n));
      continue;
    }
    const m = re.exec(n);
    if (!m) continue;
    const stamp = m[1]!;
    const gz = m[2] === '.gz';
    const prev = byStamp.get(stamp);
    const entry: Backup = { path: path.join(dir, n), stamp, ms: msOfStamp(stamp), gz };
    if (!prev) byStamp.set(stamp, entry);
    else if (gz) {
      duplicates.push(prev.path);
      byStamp.set(stamp, entry);
    } else duplicates.push(entry.path);
  }
  const backups = [...byStamp.values()].sort((a, b) => (a.stamp < b.stamp ? -1 : a.stamp > b.stamp ? 1 : 0));
  return { backups, duplicates, temps };
}

/** Every file of an audit log in event order: backups oldest first, then the live file. */
export function auditFiles(file: string): Array<{ path: string; gz: boolean; live: boolean }> {
  const out: Array<{ path: string; gz: boolean; live: boolean }> = scanBackups(file).backups.map((b) => ({
    path: b.path,
    gz: b.gz,
    live: false,
  }));
  if (fs.existsSync(file)) out.push({ path: file, gz: false, live: true });
  return out;
}
