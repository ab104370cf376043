// The compiled kernel sensor: runs native/build/warden-sensor (libbpf + CO-RE BPF,
// native/sensor/), decodes its binary record stream into raw records, sends commands on its
// stdin (track/untrack, hand-off servers, protected inodes, signal acknowledgements), and
// restarts it if it dies (re-seeded with the pids the model still tracks; with pinned state
// the new one adopts the kernel side, records written meanwhile included). Loss, malformed
// records and restarts are signals, never swallowed.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sensor, SensorSink } from '../raw.js';
import { ensureTracefs } from '../tracefs.js';
import { EbpfDecoder, SENSOR_ABI, type LoaderStats } from './decoder.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Where `npm run build:native` puts the loader (WARDEN_SENSOR_BIN overrides). */
export function sensorBinary(): string {
  return process.env.WARDEN_SENSOR_BIN || path.resolve(here, '../../../native/build/warden-sensor');
}

export interface EbpfStatus {
  /** The compiled sensor is built (the binary exists and speaks this ABI). */
  built: boolean;
  /** It loaded and attached here (checked only when asked and root). */
  loadable?: boolean;
  binary: string;
  /** Why it is not built / not loadable, or how long the check took. */
  detail: string;
}

/**
 * Whether the compiled sensor is built and (when `load`) whether it loads and attaches on
 * this kernel: for `warden doctor` and the backend choice. Never throws.
 */
export function ebpfSensorStatus(opts: { load?: boolean } = {}): EbpfStatus {
  const binary = sensorBinary();
  if (!fs.existsSync(binary)) {
    return { built: false, binary, detail: 'not built (run `npm run build:native`; needs clang, bpftool, libbpf-dev, libelf-dev)' };
  }
  let abi: number;
  try {
    abi = Number(execFileSync(binary, ['--abi'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'pipe'] }).trim());
  } catch (err) {
    return { built: false, binary, detail: `cannot run ${binary}: ${firstLine(err)}` };
  }
  if (abi !== SENSOR_ABI) return { built: false, binary, detail: `built for record format ${abi}, this Warden reads ${SENSOR_ABI} (rebuild: npm run build:native)` };
  if (!opts.load) return { built: true, binary, detail: 'built' };
  if (process.getuid?.() !== 0) return { built: true, loadable: false, binary, detail: 'loading BPF programs needs root' };
  try {
    const out = execFileSync(binary, ['--check', '--monitor-pid', String(process.pid)], {
      encoding: 'utf8',
      timeout: 20_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { built: true, loadable: true, binary, detail: out.trim() };
  } catch (err) {
    return { built: true, loadable: false, binary, detail: firstLine(err) };
  }
}

function firstLine(err: unknown): string {
  const e = err as { stderr?: string | Buffer; message?: string };
  const text = (e.stderr ? String(e.stderr) : '') || e.message || String(err);
  return text.trim().split('\n').slice(0, 3).join(' ').slice(0, 500);
}

export interface EbpfSensorOptions {
  sink: SensorSink;
  /** comm values that make an untracked exec a provisional candidate (agents, interpreters). */
  execNames: string[];
  /** argv[0] of an exec / task_rename targets that make a candidate (agent names). */
  agentNames: string[];
  /** comm prefixes that make an exec a candidate (python, pypy); at most 4. */
  prefixes: string[];
  failedOpens?: boolean;
  /** See ScriptOptions.foldOpensMs (default 1000; 0 = every open). */
  foldOpensMs?: number;
  /** The kernel wakes the loader at most once per this many µs (default 10000; 0 = per record). */
  wakeUs?: number;
  /** Records reach the monitor at most once per this many ms while they flow (loader default 40). */
  batchMs?: number;
  /** cgroup v2 directories whose processes are all tracked (sandboxes). */
  trackCgroups?: string[];
  seedsOnRestart: () => number[];
  maxRestartsPerMinute?: number;
  binary?: string;
  /** Environment variables exec records carry (names; values are read only for these). */
  envNames?: string[];
  /** Path components whose failed opens and lookups are reported. */
  watchedNames?: string[];
  /**
   * Pinned state (bpffs directory): the kernel side outlives this process and its loader;
   * a loader started later with the same directory adopts it. Absent: the kernel side dies
   * with the loader, and the loader with the monitor.
   */
  pinDir?: string;
  /** Where the loader writes records it could not deliver to a dying monitor. */
  spool?: string;
  /** The monitor's registry entry (removed before a clean stop: its absence means "stopped"). */
  registry?: string;
  /** The monitor's command line, restarted by the loader when the monitor is killed. */
  respawn?: { argv: string[]; log?: string };
  /** A monitor stopped by a signal (not its terminal's Ctrl-Z) is continued at once (`warden watch`). */
  undoStops?: boolean;
}

/** pids passed on the command line; the rest follow on stdin before any record is read. */
const MAX_ARG_SEEDS = 1000;

export class EbpfSensor implements Sensor {
  readonly backend = 'ebpf' as const;
  readonly blindSpots: string[] = [
    'file and network activity through io_uring (only io_uring_setup is reported)',
    '32-bit (ia32) system calls (syscall tracepoints do not report them)',
  ];
  missing: string[] = [];
  attachMs = 0;
  /** The last start took over pinned kernel state left by a sensor that died. */
  adopted = false;
  private child: ChildProcess | undefined;
  private decoder: EbpfDecoder | undefined;
  private stopping = false;
  private restarts: number[] = [];
  private loader: LoaderStats | undefined;
  private readonly counters = { records: 0, lost: 0, parse_errors: 0, restarts: 0, bytes: 0, ctl: 0 };

  constructor(private readonly o: EbpfSensorOptions) {}

  async start(seeds: number[]): Promise<void> {
    const why = ensureTracefs();
    if (why) throw new Error(why);
    await this.spawnOnce(seeds);
  }

  private args(seeds: number[]): string[] {
    const a = ['--monitor-pid', String(process.pid), '--fold-ms', String(this.o.foldOpensMs ?? 1000)];
    for (const n of this.o.envNames ?? []) if (/^[A-Za-z_][A-Za-z0-9_]{0,30}$/.test(n)) a.push('--env-name', n);
    for (const n of this.o.watchedNames ?? []) if (n.length > 0 && n.length <= 31 && !n.includes('/')) a.push('--watched-name', n);
    if (this.o.pinDir) a.push('--pin', this.o.pinDir);
    if (this.o.spool) a.push('--spool', this.o.spool);
    if (this.o.registry) a.push('--registry', this.o.registry);
    if (this.o.respawn) {
      for (const x of this.o.respawn.argv) a.push('--respawn-arg', x);
      if (this.o.respawn.log) a.push('--respawn-log', this.o.respawn.log);
    }
    if (this.o.undoStops) a.push('--undo-stops');
    if (this.o.failedOpens) a.push('--failed-opens');
    if (this.o.wakeUs !== undefined) a.push('--wake-us', String(this.o.wakeUs));
    if (this.o.batchMs !== undefined) a.push('--batch-us', String(this.o.batchMs * 1000));
    for (const n of new Set(this.o.execNames)) if (n.length > 0 && n.length <= 31) a.push('--exec-name', n);
    for (const n of new Set(this.o.agentNames)) if (n.length > 0 && n.length <= 31) a.push('--agent-name', n);
    for (const p of this.o.prefixes.slice(0, 4)) a.push('--prefix', p);
    for (const c of this.o.trackCgroups ?? []) a.push('--cgroup', c);
    for (const s of seeds.slice(0, MAX_ARG_SEEDS)) if (s !== process.pid) a.push('--track', String(s));
    return a;
  }

  private async spawnOnce(seeds: number[]): Promise<void> {
    const started = Date.now();
    const bin = this.o.binary ?? sensorBinary();
    // its own session: a Ctrl-C in the monitor's terminal is the monitor's to act on (it stops the
    // loader through stdin); the loader ignores it anyway
    const child = spawn(bin, this.args(seeds), { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.child = child;
    for (const s of seeds.slice(MAX_ARG_SEEDS)) child.stdin!.write(`t ${s}\n`);
    child.stdin!.on('error', () => {}); // EPIPE when it died: reported through 'exit'
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      stderr = (stderr + d).slice(-4000);
    });

    await new Promise<void>((resolve, reject) => {
      let ready = false;
      const decoder = new EbpfDecoder({
        record: (r) => {
          this.counters.records++;
          this.o.sink.record(r);
        },
        signal: (s) => {
          if (s.s === 'lost') this.counters.lost += s.count;
          if (s.s === 'parse_error') this.counters.parse_errors++;
          if (s.s === 'ctl') this.counters.ctl++;
          this.o.sink.signal(s);
        },
        ready: (_us, _abi, missing, adopted, gapNs) => {
          if (ready) return;
          ready = true;
          this.attachMs = Date.now() - started;
          this.missing = missing;
          this.adopted = adopted;
          this.o.sink.signal({ s: 'ready', backend: 'ebpf', attachMs: this.attachMs, missing, adopted, gapMs: adopted ? Math.round(gapNs / 1e6) : undefined });
          resolve();
        },
        stats: (s) => {
          this.loader = s;
        },
      });
      this.decoder = decoder;
      child.stdout!.on('data', (chunk: Buffer) => {
        this.counters.bytes += chunk.length;
        decoder.push(chunk);
      });
      child.on('error', (err) => {
        if (!ready) reject(new Error(`cannot run ${bin}: ${err.message}`));
      });
      let gone = false;
      const died = (reason: string) => {
        if (gone || this.stopping) return;
        gone = true;
        if (this.child === child) this.child = undefined;
        this.onDied(reason);
      };
      // Its output closes as it dies, before its exit: without pinned links, a killed loader's
      // exit releases every attached program, which takes the kernel seconds (8 s here), and the
      // restart need not wait for that.
      child.stdout!.on('end', () => {
        if (ready) died('warden-sensor closed its output (killed or crashed)');
      });
      child.on('exit', (code, signal) => {
        if (this.child === child) this.child = undefined;
        if (!ready) {
          reject(new Error(`warden-sensor exited before attaching (code ${code}, signal ${signal}): ${stderr.trim().split('\n').slice(-4).join(' ')}`));
          return;
        }
        died(`warden-sensor exited (code ${code}, signal ${signal})${stderr ? `: ${stderr.trim().split('\n').slice(-2).join(' ')}` : ''}`);
      });
    });
  }

  private onDied(reason: string): void {
    // the loader never removes its pinned state unless told to stop cleanly
    const stateRemoved = this.o.pinDir !== undefined && !fs.existsSync(path.join(this.o.pinDir, 'maps'));
    this.o.sink.signal({ s: 'died', reason, ...(stateRemoved ? { stateRemoved } : {}) });
    const now = Date.now();
    this.restarts = this.restarts.filter((t) => now - t < 60_000);
    if (this.restarts.length >= (this.o.maxRestartsPerMinute ?? 5)) {
      this.o.sink.signal({ s: 'died', reason: `giving up after ${this.restarts.length} restarts in a minute` });
      return;
    }
    this.restarts.push(now);
    const delay = 100 * 2 ** (this.restarts.length - 1);
    setTimeout(() => {
      if (this.stopping) return;
      this.spawnOnce(this.o.seedsOnRestart()).then(
        () => {
          this.counters.restarts++;
          this.o.sink.signal({ s: 'restarted', restarts: this.counters.restarts, gapMs: Date.now() - now });
        },
        (err: Error) => this.onDied(`restart failed: ${err.message}`),
      );
    }, delay).unref();
  }

  private command(line: string): void {
    const c = this.child;
    if (c?.stdin && !c.stdin.destroyed) c.stdin.write(line);
  }

  track(pid: number, root?: number): void {
    this.command(`t ${pid} ${root ?? pid}\n`);
  }

  untrack(pid: number, gen?: number): void {
    this.command(gen === undefined ? `u ${pid}\n` : `u ${pid} ${gen}\n`);
  }

  serve(pid: number, root: number): void {
    this.command(`s ${pid} ${root}\n`);
  }

  unserve(pid: number): void {
    this.command(`S ${pid}\n`);
  }

  protect(dev: number, ino: number): void {
    this.command(`p ${dev} ${ino}\n`);
  }


  ackSignal(seq: number): void {
    this.command(`a ${seq}\n`);
  }

  rememberSession(root: number, startNs: bigint, name: string, session: string, cwd: string, home: string): void {
    const clean = (x: string) => x.replace(/[\t\n]/g, ' ');
    this.command(`r ${root} ${startNs} ${clean(name).replace(/ /g, '_') || 'agent'} ${clean(session)}\t${clean(cwd)}\t${clean(home)}\n`);
  }

  forgetSession(root: number): void {
    this.command(`R ${root}\n`);
  }

  /** The loader's pid (the guard reports signals to it; the monitor watches it is not stopped). */
  get loaderPid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Says "q" (a clean stop: the pinned state goes) and closes the loader's stdin: it drains
   * the ring buffers, writes its counters and exits. EOF without "q" would be the monitor's death.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child) return;
    await new Promise<void>((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        finish();
      }, 3000);
      // 'close' fires after stdout has ended: every record the loader wrote was decoded.
      child.once('close', finish);
      child.stdin!.end('q\n');
    });
  }

  stats(): Record<string, number> {
    const s: Record<string, number> = { ...this.counters, decoder_records: this.decoder?.parsed ?? 0 };
    if (this.loader) {
      s.compat_syscalls = this.loader.compat;
      s.read_failures = this.loader.readFailures;
      s.kernel_records = this.loader.kernelRecords;
      s.shed = this.loader.shed;
      s.rate_limited = this.loader.rateLimited;
    }
    return s;
  }
}
