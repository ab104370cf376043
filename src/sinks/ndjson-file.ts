// The audit log: an NDJSON file sink with size-based rotation, a bounded number of backups and
// gzip of rotated files. `-` means stdout (no rotation).
//
// Flush / fsync policy (README "Audit log"):
// * write() only buffers. The buffer is written with synchronous write(2) calls every
//   `flushIntervalMs` (200 ms), as soon as it holds `maxBufferBytes` (256 KiB), and at once for
//   `alert` events. Once written, an event survives the death of this process (it is in the
//   kernel's page cache), so a SIGKILL loses at most what was buffered: the events of the last
//   flush interval, never more than maxBufferBytes. Synchronous writes mean flushSync() in a
//   signal handler or before exit cannot be cut short by the event loop ending.
// * fdatasync(2) runs every `fsyncIntervalMs` (1 s) when something was written, before every
//   rotation and on close: that bounds what a power loss or kernel crash can take.
// * Rotation happens between lines, never inside one: fsync, close, rename to the backup name,
//   open a new file. Lines are never split, reordered or dropped by it. Compression then runs
//   in the background (zlib on the thread pool) into `<backup>.gz.tmp`, is fsynced, renamed to
//   `<backup>.gz`, and only then is the uncompressed backup removed: if compression fails the
//   uncompressed backup stays. Leftovers of a crash (a .tmp, or both forms) are cleaned up and
//   compression resumed at the next start.
// * A failing disk (ENOSPC, EIO, an unwritable path) never throws out of write(): the lines stay
//   buffered (up to `maxPendingBytes`, 64 MiB, then the oldest are dropped and counted), the
//   failure is reported once per streak through onError, and writing is retried every second.
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import type { EventSink } from '../events/dispatcher.js';
import { atLeast, type Severity, type WardenEvent } from '../events/types.js';
import { backupPath, msOfStamp, scanBackups } from './audit-files.js';

export interface NdjsonFileSinkOptions {
  /** Milliseconds between background flushes (the most a SIGKILL can lose). Default 200. */
  flushIntervalMs?: number;
  /** Flush as soon as this many bytes are buffered. Default 256 KiB. */
  maxBufferBytes?: number;
  minSeverity?: Severity;
  /** Write alert events immediately instead of on the next flush. Default true. */
  flushOnAlert?: boolean;
  /** fdatasync interval; 0 = only at rotation and close. Default 1000. */
  fsyncIntervalMs?: number;
  /** Rotate when the live file would grow past this many bytes; 0/undefined = never. */
  maxBytes?: number;
  /** Rotated files to keep (oldest removed first); 0/undefined = keep all. */
  maxBackups?: number;
  /** gzip rotated files in the background. */
  compress?: boolean;
  /** Bytes kept in memory while the file cannot be written; beyond, oldest lines are dropped. */
  maxPendingBytes?: number;
  /** Called once per failure streak (disk full, unwritable path, failed rotation/compression). */
  onError?: (err: Error, what: 'write' | 'open' | 'rotate' | 'compress' | 'prune') => void;
  /** Called when writing works again after onError('write' | 'open'). */
  onRecover?: (info: { dropped: number }) => void;
  /** Refuse to open the file through a symlink (O_NOFOLLOW): a run's audit in a directory a sandbox could write. */
  noFollow?: boolean;
}

export interface FileSinkStats {
  written: number;
  dropped: number;
  bufferedLines: number;
  bufferedBytes: number;
  rotations: number;
  compressed: number;
  compressFailures: number;
  writeErrors: number;
}

const DEFAULTS = {
  flushIntervalMs: 200,
  maxBufferBytes: 256 * 1024,
  fsyncIntervalMs: 1000,
  maxPendingBytes: 64 * 1024 * 1024,
};

export class NdjsonFileSink implements EventSink {
  readonly name: string;
  private fd = -1;
  private fileBytes = 0;
  /** Serialised lines not yet written (oldest first). */
  private buf: string[] = [];
  /** Byte length of each buffered line (computed once). */
  private lens: number[] = [];
  private bufBytes = 0;
  /** Tail of a chunk whose write failed half-way: it must go first, into the same file. */
  private partial: Buffer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  private dirty = false;
  private failing = false;
  private droppedInStreak = 0;
  private lastStampMs = 0;
  private compressQueue: string[] = [];
  private compressing: Promise<void> | undefined;
  private abortCompress: (() => void) | undefined;
  private closed = false;
  private stopCompress = false;
  private opts: NdjsonFileSinkOptions;
  readonly counters = { written: 0, dropped: 0, rotations: 0, compressed: 0, compressFailures: 0, writeErrors: 0 };

  constructor(
    readonly file: string,
    opts: NdjsonFileSinkOptions = {},
  ) {
    this.name = `file:${file}`;
    this.opts = { ...opts };
    if (file === '-') {
      this.fd = 1;
      return;
    }
    this.tryOpen();
    this.recoverBackups();
  }

  /** Events written so far (compatibility with the first version of this sink). */
  get written(): number {
    return this.counters.written;
  }
  get dropped(): number {
    return this.counters.dropped;
  }

  stats(): FileSinkStats {
    return { ...this.counters, bufferedLines: this.buf.length, bufferedBytes: this.bufBytes + (this.partial?.length ?? 0) };
  }

  /** Applies new options (config reload) without reopening the file or losing buffered lines. */
  reconfigure(opts: NdjsonFileSinkOptions): void {
    this.opts = { ...opts };
    if (this.opts.fsyncIntervalMs === 0 && this.syncTimer) {
      clearTimeout(this.syncTimer);
      this.syncTimer = undefined;
    }
  }

  write(ev: WardenEvent): void {
    if (this.closed) return;
    const min = this.opts.minSeverity ?? 'info';
    if (min !== 'info' && !atLeast(ev.severity, min)) return;
    let line: string;
    try {
      line = JSON.stringify(ev) + '\n';
    } catch (err) {
      // A cycle or BigInt in `data` must not take the monitor down; keep a trace of the event.
      line = JSON.stringify({ ts: ev.ts, seq: ev.seq, kind: ev.kind, severity: ev.severity, data: { unserialisable: String(err) } }) + '\n';
    }
    this.writeLine(line, ev.severity === 'alert');
  }

  /** Appends one pre-serialised line (ending in \n). `urgent` = write now (alerts). */
  writeLine(line: string, urgent = false): void {
    if (this.closed) return;
    const len = Buffer.byteLength(line);
    this.buf.push(line);
    this.lens.push(len);
    this.bufBytes += len;
    if (this.bufBytes >= (this.opts.maxBufferBytes ?? DEFAULTS.maxBufferBytes) || (urgent && this.opts.flushOnAlert !== false))
      this.flushSync();
    else this.arm(this.opts.flushIntervalMs ?? DEFAULTS.flushIntervalMs);
  }

  private arm(ms: number): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushSync();
    }, ms);
    this.timer.unref();
  }

  private armSync(): void {
    const ms = this.opts.fsyncIntervalMs ?? DEFAULTS.fsyncIntervalMs;
    if (this.syncTimer || ms <= 0 || this.fd <= 2) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      if (!this.dirty || this.fd <= 2) return;
      this.dirty = false;
      // Async so a slow disk does not stall the event loop; a rotation that closes this fd in
      // the meantime has fsynced it already.
      fs.fdatasync(this.fd, () => undefined);
    }, ms);
    this.syncTimer.unref();
  }

  private tryOpen(): boolean {
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
      this.fd = fs.openSync(this.file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | (this.opts.noFollow ? fs.constants.O_NOFOLLOW : 0), 0o600);
      this.fileBytes = fs.fstatSync(this.fd).size;
      this.endTornLine();
      return true;
    } catch (err) {
      this.fail(err as Error, 'open');
      return false;
    }
  }

  /** A crash can leave half a line at the end: start ours on a fresh line so both stay parseable. */
  private endTornLine(): void {
    if (this.fileBytes === 0) return;
    const last = Buffer.alloc(1);
    const rfd = fs.openSync(this.file, 'r');
    try {
      fs.readSync(rfd, last, 0, 1, this.fileBytes - 1);
    } finally {
      fs.closeSync(rfd);
    }
    if (last[0] !== 0x0a) this.fileBytes += fs.writeSync(this.fd, '\n');
  }

  private fail(err: Error, what: 'write' | 'open'): void {
    this.counters.writeErrors++;
    if (!this.failing) this.opts.onError?.(err, what);
    this.failing = true;
  }

  /** Writes everything buffered now, synchronously. Never throws. */
  flushSync(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.buf.length === 0 && !this.partial) return;
    if (this.fd < 0 && !this.tryOpen()) return this.keepForLater();
    try {
      if (this.partial) {
        this.writeAll(this.partial);
        this.partial = undefined;
      }
      const max = this.file === '-' ? 0 : (this.opts.maxBytes ?? 0);
      while (this.buf.length > 0) {
        // Take whole lines up to what fits before the size limit (at least one line).
        let n = 0;
        let bytes = 0;
        const room = max > 0 ? max - this.fileBytes : Infinity;
        while (n < this.buf.length) {
          const l = this.lens[n]!;
          if (n > 0 && bytes + l > room) break;
          if (n === 0 && l > room && this.fileBytes > 0) break; // rotate first
          bytes += l;
          n++;
          if (bytes >= 1024 * 1024) break; // bounded chunks
        }
        if (n === 0) {
          this.rotate();
          continue;
        }
        const lines = this.buf.splice(0, n);
        this.lens.splice(0, n);
        this.bufBytes -= bytes;
        // Each line encoded straight into the chunk: a join would first build (and flatten)
        // one big string of them, then encode it again.
        const chunk = Buffer.allocUnsafe(bytes);
        let off = 0;
        for (const l of lines) off += chunk.write(l, off);
        try {
          this.writeAll(off === bytes ? chunk : chunk.subarray(0, off));
        } catch (err) {
          // writeAll left the unwritten tail in this.partial; those lines count as written.
          this.counters.written += n;
          throw err;
        }
        this.counters.written += n;
        if (max > 0 && this.fileBytes >= max && this.buf.length > 0) this.rotate();
      }
      if (this.failing) {
        this.failing = false;
        this.opts.onRecover?.({ dropped: this.droppedInStreak });
        this.droppedInStreak = 0;
      }
      this.dirty = true;
      this.armSync();
    } catch (err) {
      this.fail(err as Error, 'write');
      this.keepForLater();
    }
  }

  /** write(2) until done; on failure the unwritten tail goes to `partial` and it throws. */
  private writeAll(data: Buffer): void {
    let off = 0;
    try {
      while (off < data.length) {
        const n = fs.writeSync(this.fd, data, off);
        off += n;
        this.fileBytes += n;
      }
    } catch (err) {
      // EAGAIN (stdout as a non-blocking pipe), ENOSPC, EIO: the tail is retried later.
      this.partial = off < data.length ? data.subarray(off) : undefined;
      throw err;
    }
  }

  private keepForLater(): void {
    const limit = this.opts.maxPendingBytes ?? DEFAULTS.maxPendingBytes;
    while (this.bufBytes > limit && this.buf.length > 0) {
      this.buf.shift();
      this.bufBytes -= this.lens.shift()!;
      this.counters.dropped++;
      this.droppedInStreak++;
    }
    this.arm(1000);
  }

  /** Renames the live file to a backup and opens a fresh one. Failure keeps the live file. */
  private rotate(): void {
    const now = Math.max(Date.now(), this.lastStampMs + 1);
    const dst = backupPath(this.file, now);
    try {
      try {
        fs.fdatasyncSync(this.fd);
      } catch {
        /* best effort: a file that cannot be synced can still be rotated */
      }
      fs.renameSync(this.file, dst);
    } catch (err) {
      // Keep appending to the oversized file rather than lose or block events.
      this.opts.onError?.(err as Error, 'rotate');
      this.fileBytes = 0; // do not retry on every line; try again after another max_size
      return;
    }
    this.lastStampMs = now;
    const old = this.fd;
    this.fd = -1;
    try {
      fs.closeSync(old);
    } catch {
      /* already closed */
    }
    this.counters.rotations++;
    this.syncDir();
    if (!this.tryOpen()) throw new Error(`cannot reopen ${this.file} after rotation`);
    this.prune();
    if (this.opts.compress) this.enqueueCompress(dst);
  }

  private syncDir(): void {
    try {
      const d = fs.openSync(path.dirname(this.file), 'r');
      try {
        fs.fsyncSync(d);
      } finally {
        fs.closeSync(d);
      }
    } catch {
      /* some filesystems refuse fsync on directories */
    }
  }

  private prune(): void {
    const keep = this.opts.maxBackups ?? 0;
    if (keep <= 0) return;
    const { backups } = scanBackups(this.file);
    for (const b of backups.slice(0, Math.max(0, backups.length - keep))) {
      try {
        fs.unlinkSync(b.path);
        const i = this.compressQueue.indexOf(b.path);
        if (i >= 0) this.compressQueue.splice(i, 1);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.opts.onError?.(err as Error, 'prune');
      }
    }
  }

  /** Crash leftovers: drop partial .gz.tmp, drop uncompressed twins, resume compression. */
  private recoverBackups(): void {
    const scan = scanBackups(this.file);
    for (const f of [...scan.temps, ...scan.duplicates]) {
      try {
        fs.unlinkSync(f);
      } catch {
        /* gone already */
      }
    }
    const newest = scan.backups[scan.backups.length - 1];
    if (newest) this.lastStampMs = msOfStamp(newest.stamp);
    if (this.opts.compress) for (const b of scan.backups) if (!b.gz) this.enqueueCompress(b.path);
  }

  private enqueueCompress(file: string): void {
    this.compressQueue.push(file);
    if (!this.compressing) this.compressing = this.runCompress().finally(() => (this.compressing = undefined));
  }

  private async runCompress(): Promise<void> {
    while (this.compressQueue.length > 0 && !this.stopCompress) {
      const src = this.compressQueue.shift()!;
      await this.compressOne(src);
    }
  }

  private async compressOne(src: string): Promise<void> {
    const tmp = `${src}.gz.tmp`;
    const dst = `${src}.gz`;
    const ac = new AbortController();
    this.abortCompress = () => ac.abort();
    try {
      if (!fs.existsSync(src)) return; // pruned meanwhile
      await pipeline(fs.createReadStream(src), zlib.createGzip({ level: 6 }), fs.createWriteStream(tmp, { mode: 0o600 }), { signal: ac.signal });
      const fd = fs.openSync(tmp, 'r');
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, dst);
      this.syncDir();
      fs.unlinkSync(src);
      this.counters.compressed++;
    } catch (err) {
      try {
        fs.unlinkSync(tmp);
      } catch {
        /* nothing written */
      }
      if (ac.signal.aborted) return; // closing: compressed at the next start
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !fs.existsSync(src)) return; // pruned meanwhile
      this.counters.compressFailures++;
      this.opts.onError?.(err as Error, 'compress');
    } finally {
      this.abortCompress = undefined;
    }
  }

  /** Resolves when queued compressions are done (tests, benchmarks). */
  async idle(): Promise<void> {
    while (this.compressing) await this.compressing;
  }

  async flush(): Promise<void> {
    this.flushSync();
  }

  /**
   * Flushes, fsyncs and closes. Queued compressions get `compressGraceMs` to finish, then are
   * abandoned (the uncompressed backups stay and are compressed at the next start).
   */
  async close(compressGraceMs = 2000): Promise<void> {
    if (this.closed) return;
    this.flushSync();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.timer = this.syncTimer = undefined;
    if (this.fd > 2) {
      try {
        fs.fsyncSync(this.fd);
      } catch {
        /* fsync on pipes/ttys fails; nothing more to do */
      }
      fs.closeSync(this.fd);
    }
    this.fd = -1;
    if (this.buf.length > 0 || this.partial) {
      this.counters.dropped += this.buf.length;
      this.opts.onError?.(new Error(`${this.buf.length} buffered events could not be written before close`), 'write');
    }
    if (this.compressing) {
      let t: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((r) => (t = setTimeout(r, compressGraceMs)));
      await Promise.race([this.compressing, grace]);
      clearTimeout(t);
      this.stopCompress = true;
      this.abortCompress?.();
      await this.compressing;
    }
  }
}

/** The rotating audit-log sink under its descriptive name. */
export { NdjsonFileSink as RotatingFileSink };
