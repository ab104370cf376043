// `warden service install|uninstall`: writes a systemd unit running `warden watch` in the
// foreground (systemd supervises, SIGTERM flushes and exits), then daemon-reload + enable.
// Every step is printed. Where systemd is not running (containers, OpenRC, runit, this CI
// machine) it changes nothing and explains what to do instead; --dir writes the unit file only.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadWatchConfig } from '../config/watch-config.js';
import { UsageError } from './main.js';
import { homeDir } from '../util/xdg.js';

export const UNIT_NAME = 'warden.service';

export interface ServiceOptions {
  user?: boolean;
  dir?: string;
  config?: string;
  start?: boolean;
}

/** systemd is PID 1 and running (sd_booted(3): /run/systemd/system exists). */
export function systemdRunning(root = '/'): boolean {
  try {
    return fs.statSync(path.join(root, 'run/systemd/system')).isDirectory();
  } catch {
    return false;
  }
}

export function unitDir(user: boolean, env: NodeJS.ProcessEnv = process.env): string {
  if (!user) return '/etc/systemd/system';
  const base = env.XDG_CONFIG_HOME || path.join(homeDir(env) ?? '/', '.config');
  return path.join(base, 'systemd', 'user');
}

/** The warden launcher this code belongs to (bin/warden next to dist/). */
export function wardenBin(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'warden');
}

function q(arg: string): string {
  // systemd command-line quoting: double quotes, backslash-escape " and \, $ doubled.
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `"${arg.replace(/([\\"])/g, '\\$1').replace(/\$/g, '$$$$')}"`;
}

export function renderUnit(o: { user: boolean; node: string; bin: string; config?: string }): string {
  const exec = [o.node, o.bin, 'watch', ...(o.config ? ['--config', o.config] : []), '--quiet'].map(q).join(' ');
  const lines = [
    '# Installed by `warden service install`. Remove with `warden service uninstall`.',
    '[Unit]',
    'Description=Warden runtime security monitor for AI coding agents',
    'After=local-fs.target network.target',
    // a monitor an agent kills comes back however often it is killed (each kill is in the log)
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${exec}`,
    // SIGTERM: warden flushes the audit log and exits 0; give it time to finish compressing.
    'KillSignal=SIGTERM',
    'TimeoutStopSec=20s',
    // always: a monitor stopped by anyone but systemd (SIGKILL from a root agent, a crash, an
    // exit) is started again; its sensor's pinned kernel state is taken over and the gap reported
    'Restart=always',
    'RestartSec=1s',
    // the sensor restarts a killed monitor itself where there is no service manager; here
    // systemd does, and the two must not race
    'Environment=WARDEN_NO_RESPAWN=1',
  ];
  if (!o.user)
    lines.push(
      // bpftrace maps need locked memory; state/runtime dirs private to root.
      'LimitMEMLOCK=infinity',
      'StateDirectory=warden',
      'StateDirectoryMode=0700',
      'RuntimeDirectory=warden',
      'RuntimeDirectoryMode=0700',
      'UMask=0077',
    );
  lines.push('', '[Install]', `WantedBy=${o.user ? 'default.target' : 'multi-user.target'}`, '');
  return lines.join('\n');
}

function systemctl(user: boolean, args: string[]): { ok: boolean; out: string } {
  const full = [...(user ? ['--user'] : []), ...args];
  process.stdout.write(`$ systemctl ${full.join(' ')}\n`);
  const r = spawnSync('systemctl', full, { encoding: 'utf8', timeout: 60_000 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  if (out) process.stdout.write(out.replace(/^/gm, '  ') + '\n');
  return { ok: r.status === 0, out: out || (r.error?.message ?? '') };
}

function noSystemd(action: 'install' | 'uninstall', o: ServiceOptions, unit: string): number {
  const cmd = `${wardenBin()} watch${o.config ? ` --config ${path.resolve(o.config)}` : ''}`;
  process.stderr.write(
    [
      `warden service ${action}: systemd is not running on this machine (no /run/systemd/system), so nothing was ${action === 'install' ? 'installed' : 'changed in systemd'}.`,
      '',
      'What to do instead:',
      `  * run the monitor in the foreground under whatever supervises services here:`,
      `      ${cmd}`,
      '    it writes the audit log and control socket, flushes and exits 0 on SIGTERM, and should be',
      '    restarted if it exits non-zero (OpenRC: supervise-daemon; runit/s6: a run script with exec;',
      '    supervisord: autorestart=unexpected; a container: make it the entry point).',
      `  * or write the unit file only, for a machine that has systemd: warden service install${o.user ? ' --user' : ''} --dir DIR`,
      `    (it would go to ${unit}).`,
      '',
    ].join('\n'),
  );
  return 1;
}

export async function runServiceInstall(o: ServiceOptions): Promise<number> {
  const user = o.user === true;
  if (!user && !o.dir && process.getuid?.() !== 0) throw new UsageError('a system unit needs root; use --user for a user unit, or --dir DIR');
  let config: string | undefined;
  if (o.config) {
    config = path.resolve(o.config);
    if (!fs.existsSync(config)) throw new UsageError(`config file not found: ${config}`);
    // A config watch refuses would make the service exit 2 and be restarted every 2 s, forever.
    loadWatchConfig(config);
  }
  const dir = o.dir ? path.resolve(o.dir) : unitDir(user);
  const file = path.join(dir, UNIT_NAME);
  if (!o.dir && !systemdRunning()) return noSystemd('install', o, file);
  const text = renderUnit({ user, node: process.execPath, bin: wardenBin(), config });
  const existed = fs.existsSync(file);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    fs.writeFileSync(file, text, { mode: 0o644 });
  } catch (err) {
    process.stderr.write(`warden service install: cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`${existed ? 'updated' : 'wrote'} ${file}\n`);
  if (o.dir) {
    process.stdout.write(`not calling systemctl (--dir). To activate: copy it to ${unitDir(user)}, then systemctl${user ? ' --user' : ''} daemon-reload && systemctl${user ? ' --user' : ''} enable --now ${UNIT_NAME}\n`);
    return 0;
  }
  if (!systemctl(user, ['daemon-reload']).ok) return 1;
  const en = systemctl(user, ['enable', ...(o.start === false ? [] : ['--now']), UNIT_NAME]);
  if (!en.ok) return 1;
  process.stdout.write(`${UNIT_NAME} ${o.start === false ? 'enabled' : 'enabled and started'}. Logs: journalctl${user ? ' --user' : ''} -u warden; events: warden events --follow\n`);
  return 0;
}

export async function runServiceUninstall(o: ServiceOptions): Promise<number> {
  const user = o.user === true;
  const dir = o.dir ? path.resolve(o.dir) : unitDir(user);
  const file = path.join(dir, UNIT_NAME);
  if (!o.dir && !systemdRunning()) {
    if (fs.existsSync(file)) {
      fs.rmSync(file);
      process.stdout.write(`removed ${file} (systemd is not running, so there was nothing to stop or disable)\n`);
      return 0;
    }
    return noSystemd('uninstall', o, file);
  }
  let ok = true;
  if (!o.dir) ok = systemctl(user, ['disable', '--now', UNIT_NAME]).ok;
  if (fs.existsSync(file)) {
    fs.rmSync(file);
    process.stdout.write(`removed ${file}\n`);
  } else process.stdout.write(`${file} was not there\n`);
  if (!o.dir) ok = systemctl(user, ['daemon-reload']).ok && ok;
  return ok ? 0 : 1;
}
