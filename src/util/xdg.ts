// XDG base directories, so files land where users and packagers expect them. Root uses
// /var/lib and /run like any system daemon unless XDG variables are set explicitly.
import os from 'node:os';
import path from 'node:path';

const isRoot = () => process.getuid?.() === 0;
/** HOME as process.env says (os.homedir() reads the environment Node started with). */
const home = () => process.env.HOME || os.homedir();

export function stateDir(): string {
  const x = process.env.XDG_STATE_HOME;
  if (x) return path.join(x, 'warden');
  if (isRoot()) return '/var/lib/warden';
  return path.join(home(), '.local', 'state', 'warden');
}

export function configDir(): string {
  const x = process.env.XDG_CONFIG_HOME;
  if (x) return path.join(x, 'warden');
  if (isRoot()) return '/etc/warden';
  return path.join(home(), '.config', 'warden');
}

export function runtimeDir(): string {
  const x = process.env.XDG_RUNTIME_DIR;
  if (x) return path.join(x, 'warden');
  if (isRoot()) return '/run/warden';
  return path.join(os.tmpdir(), `warden-${process.getuid?.() ?? 'user'}`);
}

export function defaultAuditLog(): string {
  return path.join(stateDir(), 'events.ndjson');
}

export function defaultSocketPath(): string {
  return path.join(runtimeDir(), 'warden.sock');
}
