// Test helper: drives a terminal program the way a person would, through tmux (a private
// server per test, so concurrent tests and a developer's own tmux are untouched): start it in
// a pane of a given size, type keys, read the screen.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';

export interface Pane {
  /** Current screen text (no colours), one string per line. */
  screen(): string;
  /** Everything the pane printed, scrollback included. */
  history(): string;
  /** Types keys (tmux key names: Enter, Escape, Up, C-c, or literal text with literal=true). */
  keys(keys: string[], literal?: boolean): void;
  /** Waits until the screen satisfies `pred`; throws with the last screen after the timeout. */
  waitFor(pred: (screen: string) => boolean, timeoutMs?: number, what?: string): Promise<string>;
  resize(cols: number, rows: number): void;
  kill(): void;
}

export function tmuxAvailable(): boolean {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs `command` (a shell command line) in a new detached tmux session. */
export function startPane(command: string, opts: { cols?: number; rows?: number; env?: Record<string, string> } = {}): Pane {
  const server = `warden-test-${crypto.randomBytes(4).toString('hex')}`;
  // A person's terminal, not CI's: CLIs that see CI, CONTINUOUS_INTEGRATION or CI_* (gemini, through
  // is-in-ci) refuse to start interactively. The private server takes its environment from here.
  const termEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'CI' && k !== 'CONTINUOUS_INTEGRATION' && !k.startsWith('CI_')));
  const t = (...args: string[]) => execFileSync('tmux', ['-L', server, '-f', '/dev/null', ...args], { encoding: 'utf8', env: termEnv });
  const env = Object.entries(opts.env ?? {}).map(([k, v]) => `export ${k}=${shq(v)}; `).join('');
  // The pane keeps the shell after the command so its exit status stays readable.
  const line = `${env}${command}; echo "[exit=$?]"; sleep 600`;
  t('new-session', '-d', '-s', 'main', '-x', String(opts.cols ?? 160), '-y', String(opts.rows ?? 45), 'sh', '-c', line);
  const pane: Pane = {
    screen: () => t('capture-pane', '-p', '-t', 'main'),
    history: () => t('capture-pane', '-p', '-J', '-S', '-', '-t', 'main'),
    keys(keys, literal = false) {
      t('send-keys', '-t', 'main', ...(literal ? ['-l'] : []), ...keys);
    },
    async waitFor(pred, timeoutMs = 20_000, what = 'screen') {
      const deadline = Date.now() + timeoutMs;
      let last = '';
      for (;;) {
        try {
          last = pane.screen();
        } catch (err) {
          throw new Error(`tmux pane gone while waiting for ${what}: ${(err as Error).message}`);
        }
        if (pred(last)) return last;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; screen was:\n${last}`);
        await new Promise((r) => setTimeout(r, 150));
      }
    },
    resize(cols, rows) {
      t('resize-window', '-t', 'main', '-x', String(cols), '-y', String(rows));
    },
    kill() {
      try {
        t('kill-server');
      } catch {
        /* already gone */
      }
    },
  };
  return pane;
}

export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
