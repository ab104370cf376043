// The demo's terminal output: plain lines with ANSI colour (off without a terminal, with
// NO_COLOR, or --no-color), paced so a person can follow (no pauses with --fast).
import type { WardenEvent } from '../../events/types.js';
import { clean } from '../top/format.js';

export interface ScreenOptions {
  color: boolean;
  fast: boolean;
  write?: (s: string) => void;
  width?: number;
}

const C = { red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, gray: 90 } as const;

export class Screen {
  private readonly write: (s: string) => void;
  readonly width: number;

  constructor(private readonly o: ScreenOptions) {
    this.write = o.write ?? ((s) => process.stdout.write(s));
    this.width = Math.max(60, Math.min(o.width ?? process.stdout.columns ?? 100, 160));
  }

  paint(s: string, color: keyof typeof C, bold = false): string {
    if (!this.o.color) return s;
    return `\x1b[${bold ? '1;' : ''}${C[color]}m${s}\x1b[0m`;
  }

  bold(s: string): string {
    return this.o.color ? `\x1b[1m${s}\x1b[0m` : s;
  }

  dim(s: string): string {
    return this.o.color ? `\x1b[2m${s}\x1b[0m` : s;
  }

  line(s = ''): void {
    this.write(s + '\n');
  }

  /** Waits so a reader can follow (skipped with --fast). */
  async pause(ms: number): Promise<void> {
    if (this.o.fast || ms <= 0) return;
    await new Promise((r) => setTimeout(r, ms));
  }

  title(s: string): void {
    this.line();
    this.line(this.paint(`━━ ${s} `.padEnd(Math.min(this.width, 100), '━'), 'blue', true));
  }

  /** Fits `s` in what is left of a line after `indent` columns (one spare: no wrap at the edge). */
  cut(s: string, indent: number): string {
    const w = this.width - indent - 1;
    const c = clean(s);
    return c.length > w ? c.slice(0, Math.max(1, w - 1)) + '…' : c;
  }

  command(cmd: string): void {
    this.line(`       ${this.paint('$', 'gray')} ${this.bold(this.cut(cmd, 10))}`);
  }

  output(text: string, max = 3): void {
    const lines = text.split('\n').filter((l) => l.trim());
    for (const l of lines.slice(0, max)) this.line(this.dim(`         ${this.cut(l, 9)}`));
    if (lines.length > max) this.line(this.dim(`         … ${lines.length - max} more lines`));
  }

  alert(ev: WardenEvent, prefix = ''): void {
    const sev = ev.severity === 'alert' ? this.paint('ALERT', 'red', true) : this.paint('WARN ', 'yellow', true);
    const tag = [ev.category, ev.rule].filter(Boolean).join(' · ');
    const msg = ev.message ?? ev.kind;
    // 7 spaces, the prefix, 5 for the severity, a space, the tag, 2 spaces: then the message.
    this.line(`       ${prefix}${sev} ${this.paint(tag, ev.severity === 'alert' ? 'red' : 'yellow')}  ${this.cut(msg, 15 + prefix.length + tag.length)}`);
  }

  ok(s: string): void {
    this.line(`       ${this.paint('✓', 'green', true)} ${this.paint(this.cut(s, 9), 'green')}`);
  }

  fail(s: string): void {
    this.line(`       ${this.paint('✗', 'red', true)} ${this.paint(this.cut(s, 9), 'red')}`);
  }

  note(s: string, indent = 7): void {
    this.line(' '.repeat(indent) + this.dim(this.cut(s, indent)));
  }
}
