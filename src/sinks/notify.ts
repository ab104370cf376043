// Desktop notifications through notify-send where a session bus exists, with deduplication
// (same rule + session + target once per window) and a rate limit (the rest are counted and
// summarised). Without a bus, or when notify-send fails, it says so once and prints to the
// terminal instead. Nothing here can throw into the pipeline.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { EventSink } from '../events/dispatcher.js';
import { atLeast, type Severity, type WardenEvent } from '../events/types.js';
import { agentLabel, summary, target, textLine } from './format.js';

export interface NotifyOptions {
  minSeverity?: Severity;
  dedupS?: number;
  rateMax?: number;
  rateWindowS?: number;
  /** Print to the terminal where desktop notifications are unavailable. */
  terminal?: boolean;
  /** Say once, at start, that desktop notifications are unavailable (off with --quiet; doctor says it too). */
  announce?: boolean;
  stderr?: NodeJS.WritableStream;
  env?: NodeJS.ProcessEnv;
  /** Override the notify-send binary (tests). */
  notifySend?: string;
  now?: () => number;
}

export function findInPath(bin: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const d of (env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    if (!d) continue;
    const p = path.join(d, bin);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** Why desktop notifications cannot work here, or undefined if they may. */
export function desktopUnavailable(env: NodeJS.ProcessEnv, bin: string | undefined): string | undefined {
  if (!bin) return 'notify-send is not installed (Debian/Ubuntu: apt-get install libnotify-bin)';
  if (!env.DBUS_SESSION_BUS_ADDRESS && !env.DISPLAY && !env.WAYLAND_DISPLAY)
    return 'no desktop session bus (DBUS_SESSION_BUS_ADDRESS, DISPLAY and WAYLAND_DISPLAY are unset)';
  return undefined;
}

function escapeMarkup(s: string): string {
  return s.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, ' ').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export class NotifySink implements EventSink {
  readonly name = 'notify';
  private mode: 'desktop' | 'terminal' | 'off';
  private readonly bin: string | undefined;
  private readonly seen = new Map<string, number>();
  private sentTimes: number[] = [];
  private suppressed = 0;
  private summaryTimer: NodeJS.Timeout | undefined;
  private inflight = 0;
  private readonly o: Required<Omit<NotifyOptions, 'notifySend' | 'env' | 'stderr' | 'now'>> & { stderr: NodeJS.WritableStream; env: NodeJS.ProcessEnv; now: () => number };
  readonly counters = { notified: 0, deduplicated: 0, rate_limited: 0, failures: 0 };

  constructor(opts: NotifyOptions = {}) {
    this.o = {
      minSeverity: 'alert',
      dedupS: 300,
      rateMax: 10,
      rateWindowS: 30,
      terminal: true,
      announce: true,
      stderr: process.stderr,
      env: process.env,
      now: Date.now,
      ...opts,
    } as typeof this.o;
    this.bin = opts.notifySend ?? findInPath('notify-send', this.o.env);
    const why = desktopUnavailable(this.o.env, this.bin);
    if (!why) this.mode = 'desktop';
    else {
      this.mode = this.o.terminal ? 'terminal' : 'off';
      if (this.o.announce) this.say(`desktop notifications unavailable: ${why}; ${this.o.terminal ? 'alerts are printed here instead' : 'notifications are off'}`);
    }
  }

  get active(): 'desktop' | 'terminal' | 'off' {
    return this.mode;
  }

  private say(msg: string): void {
    try {
      this.o.stderr.write(`warden: ${msg}\n`);
    } catch {
      /* stderr closed */
    }
  }

  write(ev: WardenEvent): void {
    if (this.mode === 'off' || !atLeast(ev.severity, this.o.minSeverity)) return;
    const now = this.o.now();
    const key = `${ev.rule ?? ev.kind}|${ev.agent?.session ?? ''}|${target(ev)}`;
    const last = this.seen.get(key);
    if (last !== undefined && now - last < this.o.dedupS * 1000) {
      this.counters.deduplicated++;
      return;
    }
    this.seen.set(key, now);
    if (this.seen.size > 5000) for (const [k, t] of this.seen) if (now - t >= this.o.dedupS * 1000 || this.seen.size > 5000) this.seen.delete(k);
    const windowMs = this.o.rateWindowS * 1000;
    this.sentTimes = this.sentTimes.filter((t) => now - t < windowMs);
    if (this.sentTimes.length >= this.o.rateMax) {
      this.suppressed++;
      this.counters.rate_limited++;
      if (!this.summaryTimer) {
        const wait = Math.max(0, this.sentTimes[0]! + windowMs - now);
        this.summaryTimer = setTimeout(() => this.summarise(), wait);
        this.summaryTimer.unref();
      }
      return;
    }
    this.sentTimes.push(now);
    const title = `Warden ${ev.severity}: ${ev.rule ?? ev.kind}`;
    const body = [agentLabel(ev), summary(ev)].filter(Boolean).join(' — ');
    this.show(title, body, ev.severity, textLine(ev));
  }

  private summarise(): void {
    this.summaryTimer = undefined;
    if (this.suppressed === 0) return;
    const n = this.suppressed;
    this.suppressed = 0;
    this.sentTimes.push(this.o.now());
    this.show('Warden', `${n} more alert${n === 1 ? '' : 's'} not shown (rate limit); see \`warden events\``, 'warn', `${n} more alerts not shown (rate limit)`);
  }

  private show(title: string, body: string, sev: Severity, line: string): void {
    if (this.mode === 'terminal') {
      this.counters.notified++;
      this.say(line);
      return;
    }
    if (this.inflight >= 4) {
      this.counters.rate_limited++;
      return;
    }
    this.inflight++;
    try {
      execFile(
        this.bin!,
        ['-a', 'Warden', '-u', sev === 'alert' ? 'critical' : 'normal', '--', escapeMarkup(title), escapeMarkup(body)],
        { timeout: 5000, env: this.o.env, windowsHide: true },
        (err, _out, errOut) => {
          this.inflight--;
          if (!err) {
            this.counters.notified++;
            return;
          }
          this.counters.failures++;
          if (this.mode === 'desktop') {
            // No notification service after all (headless bus): fall back for good.
            this.mode = this.o.terminal ? 'terminal' : 'off';
            const why = String(errOut || err.message).split('\n')[0];
            this.say(`notify-send failed (${why}); ${this.o.terminal ? 'alerts are printed here instead' : 'notifications are off'}`);
            if (this.o.terminal) {
              this.counters.notified++;
              this.say(line);
            }
          }
        },
      );
    } catch {
      this.inflight--;
      this.counters.failures++;
    }
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {
    if (this.summaryTimer) clearTimeout(this.summaryTimer);
    this.summaryTimer = undefined;
    if (this.suppressed > 0 && this.mode === 'terminal') this.say(`${this.suppressed} more alerts not shown (rate limit)`);
    this.suppressed = 0;
  }
}
