// XDG base directories, so files land where users and packagers expect them. Root uses
// /var/lib and /run like any system daemon unless XDG variables are set explicitly.
import os from 'node:os';
import path from 'node:path';

const isRoot = () => process.getuid?.() === 0;
/**
 * A variable naming a directory, when it is an absolute path. A relative one is ignored (as the
 * XDG base directory spec says): it would be resolved against the current directory, the
 * workspace, which the sandbox writes (crash records, the supervisor's socket there).
 */
const absolute = (name: string): string | undefined => {
  const v = process.env[name];
  return v && path.isAbsolute(v) ? v : undefined;
};

/** TMPDIR when absolute, else /tmp (native/launcher/launcher.c computes the same). */
export function tmpDir(): string {
  const t = absolute('TMPDIR');
  if (!t) return '/tmp';
  return t.length > 1 ? t.replace(/\/$/, '') : t;
}
/**
 * HOME as `env` says, else the passwd entry's; undefined for a uid with neither (a container's
 * arbitrary user without HOME). Not os.homedir(): it reads HOME from the environment the process
 * started with, which in the supervisor is not the caller's (process.env is swapped as an object).
 */
export function homeDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.HOME || passwdHome();
}

/** This uid's home in the passwd database (never the environment's HOME), if it has an entry. */
export function passwdHome(): string | undefined {
  try {
    return os.userInfo().homedir || undefined;
  } catch {
    return undefined;
  }
}
/** Without any home, Warden's state and configuration go to its private runtime directory. */
const home = () => homeDir() ?? runtimeDir();

export function stateDir(): string {
  const x = absolute('XDG_STATE_HOME');
  if (x) return path.join(x, 'warden');
  if (isRoot()) return '/var/lib/warden';
  return path.join(home(), '.local', 'state', 'warden');
}

export function configDir(): string {
  const x = absolute('XDG_CONFIG_HOME');
  if (x) return path.join(x, 'warden');
  if (isRoot()) return '/etc/warden';
  return path.join(home(), '.config', 'warden');
}

export function runtimeDir(): string {
  const x = absolute('XDG_RUNTIME_DIR');
  if (x) return path.join(x, 'warden');
  if (isRoot()) return '/run/warden';
  return path.join(tmpDir(), `warden-${process.getuid?.() ?? 'user'}`);
}

export function defaultAuditLog(): string {
  return path.join(stateDir(), 'events.ndjson');
}

export function defaultSocketPath(): string {
  return path.join(runtimeDir(), 'warden.sock');
}
