// The demo's side of the agent stub's protocol (agent.ts): start it (directly, or wrapped in
// a private mount namespace, or under `warden run`), wait until it is ready, send it shell
// commands one at a time and read their results.
import { spawn, type ChildProcess } from 'node:child_process';
import type { ToolResult } from './scenario.js';

export interface AgentProcess {
  child: ChildProcess;
  /** Pid of the process we spawned (the agent itself, or `warden run`). */
  pid: number;
  ready: Promise<{ pid: number; uid?: number }>;
  run(command: string, timeoutMs?: number): Promise<ToolResult>;
  /** What the process wrote on stderr (warden run's messages, wrapper errors). */
  stderr(): string;
  exited(): boolean;
  /** Closes stdin (the agent ends) and waits; kills after `graceMs`. */
  stop(graceMs?: number): Promise<number | null>;
}

export function startAgent(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): AgentProcess {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  let rest = '';
  let nextId = 0;
  let exitCode: number | null | undefined;
  const pending = new Map<number, (r: ToolResult) => void>();
  let readyResolve: (v: { pid: number; uid?: number }) => void;
  let readyReject: (e: Error) => void;
  const ready = new Promise<{ pid: number; uid?: number }>((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  ready.catch(() => undefined);
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    if (err.length < 256 * 1024) err += d;
  });
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    const lines = (rest + d).split('\n');
    rest = lines.pop()!;
    for (const l of lines) {
      let msg: { ready?: boolean; pid?: number; uid?: number; id?: number; code?: number | null; stdout?: string; stderr?: string };
      try {
        msg = JSON.parse(l);
      } catch {
        continue;
      }
      if (msg.ready) readyResolve({ pid: msg.pid ?? 0, uid: msg.uid });
      else if (typeof msg.id === 'number') {
        const p = pending.get(msg.id);
        pending.delete(msg.id);
        p?.({ code: msg.code ?? null, stdout: msg.stdout ?? '', stderr: msg.stderr ?? '' });
      }
    }
  });
  child.stdin!.on('error', () => undefined);
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code, signal) => {
      exitCode = code ?? (signal ? 128 : null);
      readyReject(new Error(`the agent exited before it was ready (exit ${code ?? signal})`));
      for (const p of pending.values()) p({ code: null, stdout: '', stderr: `the agent exited (${code ?? signal})` });
      pending.clear();
      resolve(exitCode);
    });
    child.on('error', (e) => {
      readyReject(e);
      resolve(null);
    });
  });
  return {
    child,
    pid: child.pid ?? 0,
    ready,
    stderr: () => err,
    exited: () => exitCode !== undefined,
    run(command, timeoutMs = 90_000) {
      if (exitCode !== undefined) return Promise.resolve({ code: null, stdout: '', stderr: 'the agent is not running' });
      const id = ++nextId;
      return new Promise<ToolResult>((resolve) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          resolve({ code: null, stdout: '', stderr: `no answer from the agent within ${Math.round(timeoutMs / 1000)} s` });
        }, timeoutMs);
        pending.set(id, (r) => {
          clearTimeout(timer);
          resolve(r);
        });
        child.stdin!.write(JSON.stringify({ id, command }) + '\n');
      });
    },
    async stop(graceMs = 5000) {
      if (exitCode !== undefined) return exitCode;
      child.stdin!.end();
      const t = setTimeout(() => child.kill('SIGTERM'), graceMs);
      const t2 = setTimeout(() => child.kill('SIGKILL'), graceMs * 2);
      const code = await exited;
      clearTimeout(t);
      clearTimeout(t2);
      return code;
    },
  };
}
