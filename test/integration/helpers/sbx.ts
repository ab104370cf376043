// Runs a command inside a prepared sandbox network (commandPrefix of a PreparedNetwork),
// asynchronously: the proxy lives in the test process, so a blocking spawn would starve it.
import { execFile } from 'node:child_process';

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

export function runIn(prefix: string[], argv: string[], timeoutMs = 30_000, input?: string): Promise<Ran> {
  const [cmd, ...args] = [...prefix, ...argv] as [string, ...string[]];
  return new Promise((resolve) => {
    const p = execFile(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) p.stdin?.end(input);
  });
}

/** curl with a short timeout; `-sS` so errors land in stderr. */
export function curl(prefix: string[], args: string[], timeoutS = 8): Promise<Ran> {
  const proxied = args.includes('-x') || args.includes('-p');
  return runIn(prefix, ['curl', '-sS', ...(proxied ? [] : ['--noproxy', '*']), '-m', String(timeoutS), ...args], (timeoutS + 5) * 1000);
}

/** A Python snippet run inside the sandbox (raw sockets behave exactly as written). */
export function py(prefix: string[], code: string, timeoutMs = 30_000): Promise<Ran> {
  return runIn(prefix, ['python3', '-c', code], timeoutMs);
}

export function node(prefix: string[], code: string, timeoutMs = 60_000): Promise<Ran> {
  return runIn(prefix, [process.execPath, '-e', code], timeoutMs);
}
