// The kernel sensor: runs bpftrace with the generated program, parses its output into raw
// records, adds/removes tracked pids through the control channel, and restarts bpftrace
// if it dies (re-seeded with the pids the model still tracks). Loss, parse errors and
// restarts are reported as signals, never swallowed.
import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RawRecord, Sensor, SensorSink } from '../raw.js';
import { ensureTracefs } from '../tracefs.js';
import { ctlTrack, ctlUntrack } from './control.js';
import { BpftraceParser } from './parser.js';
import { STRLEN, generateScript } from './script.js';

export interface BpftraceSensorOptions {
  sink: SensorSink;
  candidateComms: string[];
  candidatePrefixes: string[];
  renameComms: string[];
  failedOpens?: boolean;
  /** See ScriptOptions.foldOpensMs (default 1000; 0 = every open). */
  foldOpensMs?: number;
  /** Per-CPU perf buffer pages (1024 = 4 MiB per CPU: 0 loss at 110k events measured). */
  perfRbPages?: number;
  /** cgroup v2 directories whose processes are all tracked (see ScriptOptions). */
  trackCgroups?: string[];
  /** pids to re-seed a restarted bpftrace with. */
  seedsOnRestart: () => number[];
  /** Directory for the generated program (mode 0700); a temp dir by default. */
  workDir?: string;
  /** Give up restarting after this many restarts within a minute. */
  maxRestartsPerMinute?: number;
  bpftrace?: string;
}

/**
 * Per-CPU perf buffer pages: 16 MiB per CPU on small machines, 64 MiB in all at most.
 * Records carry 200-byte string slots, so a burst of 100k opens needs more than the
 * 1024 pages that sufficed for 64-byte strings in the feasibility measurements.
 */
export function defaultRbPages(): number {
  const cpus = Math.max(1, os.cpus().length);
  return Math.max(256, Math.min(4096, Math.floor(16384 / cpus)));
}

export class BpftraceSensor implements Sensor {
  readonly backend = 'bpftrace' as const;
  readonly blindSpots: string[] = [
    'file and network activity through io_uring (only io_uring_setup is reported)',
    'paths are as the process passed them (symlinks not resolved)',
  ];
  private child: ChildProcess | undefined;
  private parser: BpftraceParser | undefined;
  private stopping = false;
  private restarts: number[] = [];
  private readonly counters = { records: 0, lost: 0, parse_errors: 0, restarts: 0, bytes: 0, ctl: 0 };
  private dir: string | undefined;
  missing: string[] = [];
  attachMs = 0;

  constructor(private readonly o: BpftraceSensorOptions) {}

  async start(seeds: number[]): Promise<void> {
    const why = ensureTracefs();
    if (why) throw new Error(why);
    this.dir = this.o.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bpf-'));
    fs.chmodSync(this.dir, 0o700);
    await this.spawnOnce(seeds);
  }

  private async spawnOnce(seeds: number[]): Promise<void> {
    const token = crypto.randomBytes(12).toString('hex');
    const gen = generateScript({
      token,
      monitorPid: process.pid,
      seeds,
      candidateComms: this.o.candidateComms,
      candidatePrefixes: this.o.candidatePrefixes,
      renameComms: this.o.renameComms,
      failedOpens: this.o.failedOpens ?? false,
      foldOpensMs: this.o.foldOpensMs ?? 1000,
      trackCgroups: this.o.trackCgroups,
    });
    this.missing = gen.missing;
    // The token must stay secret from traced processes: the file is root-only and the
    // program is never put on a command line.
    const file = path.join(this.dir!, `sensor-${process.pid}.bt`);
    fs.writeFileSync(file, gen.text, { mode: 0o600 });
    const started = Date.now();
    const bin = this.o.bpftrace ?? 'bpftrace';
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', bin, file], {
      env: {
        ...process.env,
        BPFTRACE_STRLEN: String(STRLEN),
        BPFTRACE_PERF_RB_PAGES: String(this.o.perfRbPages ?? defaultRbPages()),
        BPFTRACE_MAP_KEYS_MAX: '32768',
        BPFTRACE_NO_CPP_DEMANGLE: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      stderr = (stderr + d).slice(-4000);
    });

    await new Promise<void>((resolve, reject) => {
      let ready = false;
      const parser = new BpftraceParser(
        token,
        (r: RawRecord) => {
          this.counters.records++;
          this.o.sink.record(r);
        },
        (s) => {
          if (s.s === 'ready' && !ready) {
            ready = true;
            this.attachMs = Date.now() - started;
            this.o.sink.signal({ s: 'ready', backend: 'bpftrace', attachMs: this.attachMs, missing: this.missing });
            resolve();
            return;
          }
          if (s.s === 'lost') this.counters.lost += s.count;
          if (s.s === 'parse_error') this.counters.parse_errors++;
          this.o.sink.signal(s);
        },
      );
      this.parser = parser;
      child.stdout!.setEncoding('latin1');
      child.stdout!.on('data', (chunk: string) => {
        this.counters.bytes += chunk.length;
        parser.push(chunk);
      });
      child.on('error', (err) => {
        if (!ready) reject(new Error(`cannot run bpftrace: ${err.message}`));
      });
      child.on('exit', (code, signal) => {
        if (this.child === child) this.child = undefined;
        if (!ready) {
          const msg = stderr.split('\n').filter((l) => l && !l.includes('RLIMIT_MEMLOCK')).slice(-6).join('\n');
          reject(new Error(`bpftrace exited before attaching (code ${code}, signal ${signal}): ${msg}`));
          return;
        }
        if (this.stopping) return;
        this.onDied(`bpftrace exited (code ${code}, signal ${signal})${stderr ? `: ${stderr.trim().split('\n').slice(-2).join(' ')}` : ''}`);
      });
    });
  }

  private onDied(reason: string): void {
    this.o.sink.signal({ s: 'died', reason });
    const now = Date.now();
    this.restarts = this.restarts.filter((t) => now - t < 60_000);
    if (this.restarts.length >= (this.o.maxRestartsPerMinute ?? 5)) {
      this.o.sink.signal({ s: 'died', reason: `giving up after ${this.restarts.length} restarts in a minute` });
      return;
    }
    this.restarts.push(now);
    const delay = 200 * 2 ** (this.restarts.length - 1);
    setTimeout(() => {
      if (this.stopping) return;
      const t0 = Date.now();
      this.spawnOnce(this.o.seedsOnRestart()).then(
        () => {
          this.counters.restarts++;
          this.o.sink.signal({ s: 'restarted', restarts: this.counters.restarts, gapMs: Date.now() - now + (Date.now() - t0) * 0 });
        },
        (err: Error) => this.onDied(`restart failed: ${err.message}`),
      );
    }, delay).unref();
  }

  track(pid: number): void {
    this.counters.ctl++;
    ctlTrack(pid);
  }

  untrack(pid: number): void {
    this.counters.ctl++;
    ctlUntrack(pid);
  }

  /**
   * Stops after a short drain: records still in the per-CPU buffers reach us within
   * milliseconds, and bpftrace's own detach (which can take seconds while the kernel
   * unregisters tracepoints) is not waited for beyond a bound.
   */
  async stop(drainMs = 150): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child) return;
    await new Promise((r) => setTimeout(r, drainMs));
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, 2000);
      child.stdout!.once('end', done);
      child.once('exit', done);
      child.kill('SIGINT');
    });
    if (this.dir && !this.o.workDir) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  stats(): Record<string, number> {
    return { ...this.counters, parser_records: this.parser?.parsed ?? 0 };
  }
}
