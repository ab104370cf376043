// Reads an audit log back: the live file and its rotated backups (plain or gzip), oldest first,
// streaming (bounded memory), with filters; finds the last seq (to resume numbering after a
// restart); and follows the live file across rotations (`warden events --follow`).
import fs from 'node:fs';
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { WardenEvent } from '../events/types.js';
import { auditFiles, scanBackups, type Backup } from './audit-files.js';
import type { EventFilter, EventPredicate } from './filter.js';

export interface ReadStats {
  files: number;
  lines: number;
  bad: number;
  matched: number;
  /** Where reading the live file stopped (to follow on from there without a gap or repeat). */
  live?: { ino: number; offset: number };
  /** The last event read (matching or not): where a follower continues from. */
  lastEvent?: WardenEvent;
}

/** Parses a line cheaply (no schema validation: the log was written by Warden). */
export function parseLogLine(line: string): WardenEvent | undefined {
  if (line.length === 0) return undefined;
  try {
    const v = JSON.parse(line) as WardenEvent;
    if (v && typeof v === 'object' && typeof v.ts === 'string' && typeof v.kind === 'string' && typeof v.severity === 'string') return v;
  } catch {
    /* a torn last line after a crash, or not ours */
  }
  return undefined;
}

function openStream(p: string, gz: boolean): Readable {
  const s = fs.createReadStream(p);
  if (!gz) return s;
  const z = zlib.createGunzip();
  s.on('error', (e) => z.destroy(e));
  return s.pipe(z);
}

/** Event timestamps are nearly ordered (kernel time, per-CPU buffers): read this far past `until`. */
const SLACK_MS = 60_000;

/**
 * Calls onEvent for every event matching `pred`, oldest first, across backups and the live
 * file. `range` lets it skip whole backups outside the time window. Returns counts.
 */
export async function readAuditLog(
  file: string,
  pred: EventPredicate,
  onEvent: (ev: WardenEvent) => void | false,
  range: Pick<EventFilter, 'since' | 'until'> = {},
): Promise<ReadStats> {
  const st: ReadStats = { files: 0, lines: 0, bad: 0, matched: 0 };
  const files = auditFiles(file);
  // Files are not skipped by their rotation stamps: a replayed or imported log has event times
  // unrelated to when it was rotated. Reading stops once events are well past `until`.
  const stopAfter = range.until !== undefined ? range.until + SLACK_MS : undefined;
  for (const f of files) {
    let p = f.path;
    let gz = f.gz;
    if (!fs.existsSync(p) && !gz && fs.existsSync(p + '.gz')) {
      p += '.gz'; // compressed while we were reading the previous files
      gz = true;
    }
    let stream: Readable;
    let liveStream: fs.ReadStream | undefined;
    let liveIno = -1;
    try {
      if (f.live) {
        liveStream = fs.createReadStream(p);
        liveStream.once('open', (fd) => {
          try {
            liveIno = fs.fstatSync(fd).ino;
          } catch {
            /* closed already */
          }
        });
        stream = liveStream;
      } else stream = openStream(p, gz);
    } catch {
      continue;
    }
    st.files++;
    const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
    let stop = false;
    try {
      for await (const line of rl) {
        st.lines++;
        const ev = parseLogLine(line);
        if (!ev) {
          if (line.length > 0) st.bad++;
          continue;
        }
        st.lastEvent = ev;
        if (stopAfter !== undefined && Date.parse(ev.ts) > stopAfter) {
          stop = true;
          break;
        }
        if (!pred(ev)) continue;
        st.matched++;
        if (onEvent(ev) === false) {
          stop = true;
          break;
        }
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A backup pruned while reading, or a gzip cut short by a crash: read what there is.
      if (code !== 'ENOENT' && code !== 'Z_BUF_ERROR' && code !== 'Z_DATA_ERROR') throw err;
      st.bad++;
    } finally {
      rl.close();
      stream.destroy();
    }
    if (liveStream && !stop) st.live = { ino: liveIno, offset: liveStream.bytesRead };
    if (stop) break;
  }
  return st;
}

/** The last `limit` matching events, oldest first. */
export async function tailAuditLog(file: string, pred: EventPredicate, limit: number, range: Pick<EventFilter, 'since' | 'until'> = {}): Promise<WardenEvent[]> {
  const ring: WardenEvent[] = [];
  await readAuditLog(
    file,
    pred,
    (ev) => {
      ring.push(ev);
      if (ring.length > limit) ring.shift();
    },
    range,
  );
  return ring;
}

/** The highest seq in the log (live file, else the newest backup), or 0: resume numbering after it. */
export async function lastSeqInLog(file: string): Promise<number> {
  const fromText = (text: string): number | undefined => {
    const lines = text.split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      const ev = parseLogLine(lines[i]!);
      if (ev && typeof ev.seq === 'number') return ev.seq;
    }
    return undefined;
  };
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const len = Math.min(size, 1024 * 1024);
      if (len > 0) {
        const buf = Buffer.alloc(len);
        fs.readSync(fd, buf, 0, len, size - len);
        const s = fromText(buf.toString('utf8'));
        if (s !== undefined) return s;
      }
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* no live file */
  }
  const newest = scanBackups(file).backups.at(-1);
  if (!newest) return 0;
  let last = 0;
  const stream = openStream(newest.path, newest.gz);
  const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of rl) {
      const ev = parseLogLine(line);
      if (ev && typeof ev.seq === 'number') last = ev.seq;
    }
  } catch {
    /* truncated gzip: keep what was read */
  } finally {
    rl.close();
    stream.destroy();
  }
  return last;
}

export interface FollowHandle {
  stop(): void;
  done: Promise<void>;
}

function readWholeSync(b: Backup): string {
  if (!b.gz) {
    try {
      return fs.readFileSync(b.path, 'utf8');
    } catch (err) {
      // Compressed (and the plain file removed) between the directory scan and now.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      return zlib.gunzipSync(fs.readFileSync(b.path + '.gz')).toString('utf8');
    }
  }
  return zlib.gunzipSync(fs.readFileSync(b.path)).toString('utf8');
}

/**
 * Follows the live file from its current end (or from `fromOffset`), across rotations. When the
 * file it holds is rotated away, it reads that file to its end through the still-open
 * descriptor, then every backup rotated after it (several rotations can happen between two
 * polls), then the new live file — identifying where it was by the descriptor's inode or, once
 * that backup is compressed, by the last event it emitted. Nothing is skipped or repeated.
 */
export function followAuditLog(
  file: string,
  onEvent: (ev: WardenEvent) => void,
  opts: { fromStart?: boolean; fromOffset?: number; ino?: number; after?: WardenEvent; pollMs?: number } = {},
): FollowHandle {
  const poll = opts.pollMs ?? 250;
  let fd = -1;
  let ino = -1;
  let openedMs = 0;
  let pos = 0;
  let rest = '';
  let stopped = false;
  let last: WardenEvent | undefined;
  const key = (e: WardenEvent) => `${e.seq}|${e.ts}`;
  /** Events emitted by the last catch-up: the new live file may hold them too (rotated meanwhile). */
  let recent: Set<string> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const buf = Buffer.alloc(256 * 1024);
  const emit = (ev: WardenEvent) => {
    last = ev;
    onEvent(ev);
  };

  const open = (start: 'begin' | 'end' | number): void => {
    try {
      openedMs = Date.now();
      fd = fs.openSync(file, 'r');
      const st = fs.fstatSync(fd);
      ino = st.ino;
      pos = start === 'end' ? st.size : start === 'begin' ? 0 : Math.min(start, st.size);
      rest = '';
    } catch {
      fd = -1;
    }
  };
  const drain = (): void => {
    if (fd < 0) return;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) break;
      pos += n;
      const text = rest + buf.toString('utf8', 0, n);
      const lines = text.split('\n');
      rest = lines.pop()!;
      for (const l of lines) {
        const ev = parseLogLine(l);
        if (ev && !recent?.has(key(ev))) emit(ev);
      }
    }
  };
  /**
   * After the held file was rotated: every backup written after it, in order. The held file is
   * found by content (the backup holding the last event emitted), searching newest first, so
   * neither compression nor several rotations between two polls lose anything.
   */
  const catchUp = (heldSince: number): void => {
    const backups = scanBackups(file).backups;
    const texts: string[] = [];
    let from = -1;
    for (let i = backups.length - 1; i >= 0; i--) {
      let text: string;
      try {
        text = readWholeSync(backups[i]!);
      } catch {
        text = '';
      }
      texts[i] = text;
      if (last && text.includes(`"seq":${last.seq},`) && text.split('\n').some((l) => {
        const e = parseLogLine(l);
        return e !== undefined && key(e) === key(last!);
      })) {
        from = i;
        break;
      }
      if (!last && backups[i]!.ms < heldSince - 1000) {
        from = i; // nothing emitted yet: take what was rotated since we opened the held file
        break;
      }
    }
    recent = new Set();
    for (let i = from + 1; i < backups.length; i++) {
      const text = texts[i] ?? '';
      // The held backup itself is at `from` (read through the descriptor): everything after is new.
      for (const l of text.split('\n')) {
        const ev = parseLogLine(l);
        if (!ev) continue;
        recent.add(key(ev));
        emit(ev);
      }
    }
  };
  let pending: { heldSince: number } | undefined;
  const afterRotation = (): void => {
    catchUp(pending!.heldSince);
    pending = undefined;
    drain();
    recent = undefined;
  };
  const tick = (): void => {
    if (stopped) return;
    try {
      if (fd < 0) {
        open('begin');
        if (fd >= 0 && pending) afterRotation();
      }
      drain();
      let st: fs.Stats | undefined;
      try {
        st = fs.statSync(file);
      } catch {
        st = undefined;
      }
      if (fd >= 0 && st && st.ino !== ino) {
        drain(); // the rotated file's last lines
        fs.closeSync(fd);
        fd = -1;
        pending = { heldSince: openedMs };
        // Open the new live file first: anything rotated after this point is not missed. If
        // it is not there yet (between the writer's rename and its open), catch up next tick.
        open('begin');
        if (fd >= 0) afterRotation();
      } else if (fd >= 0 && st && st.size < pos) {
        // Truncated in place (copytruncate by an outside tool): start over.
        pos = 0;
        rest = '';
        drain();
      }
    } catch {
      /* transient: try again next tick */
    }
    timer = setTimeout(tick, poll);
  };
  open(opts.fromOffset !== undefined ? opts.fromOffset : opts.fromStart ? 'begin' : 'end');
  // The offset belongs to a file that has been rotated away since: start the new one from 0.
  // The offset belongs to a file rotated away since: catch up from the last event shown.
  if (opts.fromOffset !== undefined && opts.ino !== undefined && ino !== opts.ino) {
    pos = 0;
    last = opts.after;
    pending = { heldSince: 0 };
    if (fd >= 0) afterRotation();
  }
  // Remember the event just before the starting point: rotation catch-up identifies by it.
  if (fd >= 0 && pos > 0) {
    const len = Math.min(pos, 64 * 1024);
    const b = Buffer.alloc(len);
    const n = fs.readSync(fd, b, 0, len, pos - len);
    const lines = b.toString('utf8', 0, n).split('\n');
    for (let i = lines.length - 1; i >= 0 && !last; i--) last = parseLogLine(lines[i]!);
  }
  tick();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (fd >= 0) {
        try {
          drain();
        } catch {
          /* ignore */
        }
        fs.closeSync(fd);
      }
      fd = -1;
      resolveDone();
    },
    done,
  };
}
