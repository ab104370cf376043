// The demo's scripted "agent": a stand-in for a coding agent's tool loop. It is started under
// the name `claude` (a symlink to node), so Warden treats it as the real thing, and it runs
// each shell command it is given with `bash -c`, as coding agents run their Bash tool. The
// demo plays the model: it sends {id, command} lines on stdin and reads {id, code, stdout,
// stderr} lines on stdout. Self-contained (node built-ins only): the demo copies this file
// into its temporary directory so it is readable inside the sandbox too.
import { spawn } from 'node:child_process';
import readline from 'node:readline';

const MAX_OUTPUT = 64 * 1024;
const TIMEOUT_MS = 60_000;

function send(msg: unknown): void {
  process.stdout.write(JSON.stringify(msg) + '\n');
}

function runTool(id: unknown, command: string): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn('/bin/bash', ['-c', command], { cwd: process.cwd(), env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < MAX_OUTPUT) stdout += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < MAX_OUTPUT) stderr += d.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      send({ id, code: 127, stdout, stderr: stderr + String(err) });
      resolve();
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      send({ id, code, signal, stdout, stderr });
      resolve();
    });
  });
}

async function main(): Promise<void> {
  send({ ready: true, pid: process.pid, cwd: process.cwd(), home: process.env.HOME, uid: process.getuid?.() });
  const rl = readline.createInterface({ input: process.stdin });
  // One tool call at a time, in order, like an agent waiting for each result.
  for await (const line of rl) {
    if (!line.trim()) continue;
    let msg: { id?: unknown; command?: unknown };
    try {
      msg = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof msg.command !== 'string') continue;
    await runTool(msg.id, msg.command);
  }
}

void main();
