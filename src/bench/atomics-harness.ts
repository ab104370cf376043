// Evidence harness for the default ruleset (issue #3): runs the Atomic Red Team Linux tests of
// ../shared/atomics/atomics-dev.json while `warden watch` runs, each inside a disposable
// mount/pid/net/uts/ipc namespace whose /etc, /root, /home, /var, /opt and /srv are overlays
// on a tmpfs (so the tests that change system files change nothing on the host) and whose
// /tmp is empty. Inside, a stub agent (argv[0] `claude`) runs the test's commands with its
// executor (`sh -c "..."`, like an agent's shell tool), with fake secrets seeded, only
// loopback networking and an HTTP sink on 127.0.0.1:8000. Prerequisites run before the
// agent starts, so they are not attributed to it.
//
// A test counts as detected when the monitor reported a warn or alert of the test's expected
// category attributed to that agent session. A benign agent session (local git clone,
// npm ci from a local tarball, tests, edits, ssh-agent) runs the same way and must raise no
// alert. Used by test/integration/atomics.test.ts and `npm run bench atomics`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WardenEvent } from '../events/types.js';
import { newCursor, readAppendedEvents } from '../events/ndjson-cursor.js';

export interface Atomic {
  id: string;
  name: string;
  technique: string;
  executor: string;
  elevation_required: boolean;
  expected_category: string;
  commands_resolved: string;
  input_arguments: Record<string, { default?: unknown }>;
  offline_input_overrides?: Record<string, unknown>;
  dependencies: Array<{ description?: string; prereq_command?: string; get_prereq_command?: string }>;
  timeout_seconds?: number;
}

export interface AtomicResult {
  id: string;
  name: string;
  expected: string;
  detected: boolean;
  /** Categories of warn/alert events attributed to the test's agent. */
  categories: string[];
  /** Rules that raised warn/alert events for it (top rule of each event). */
  rules: string[];
  alerts: number;
  warnings: number;
  events: number;
  exitCode: number | null;
  seconds: number;
  agentSeen: boolean;
}

export interface EvidenceReport {
  results: AtomicResult[];
  detected: number;
  total: number;
  byTactic: Record<string, { detected: number; total: number }>;
  benign: { events: number; alerts: number; warnings: number; rules: string[]; agentSeen: boolean; exitCode: number | null };
  watchEvents: number;
  lost: number;
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** The package root (works from dist/bench and src/bench). */
export const PACKAGE_ROOT = path.resolve(here, '..', '..');
export const WARDEN_BIN = path.join(PACKAGE_ROOT, 'bin', 'warden');
export const ATOMICS_FILE = path.resolve(PACKAGE_ROOT, '..', 'shared', 'atomics', 'atomics-dev.json');

/** Why the harness cannot run here, or undefined. */
export function evidenceUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (namespaces, overlay mounts, the kernel sensor)';
  if (!fs.existsSync(ATOMICS_FILE)) return `${ATOMICS_FILE} not found`;
  for (const tool of ['unshare', 'ip', 'python3', 'gcc', 'timeout']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed (scripts/setup.sh)`;
  }
  const probe = spawnSync('unshare', ['--mount', '--pid', '--net', '--fork', '--mount-proc', 'true']);
  if (probe.status !== 0) return `cannot create namespaces: ${String(probe.stderr).trim()}`;
  return undefined;
}

export function loadAtomics(file = ATOMICS_FILE): Atomic[] {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Atomic[];
}

// ---------------------------------------------------------------------------------------
// Files the tests expect under the atomics tree (<ATOMICS>/...). Written here from their
// described behaviour, not copied from the upstream repository.

const SUPPORT_FILES: Record<string, string> = {
  // a preload library with a constructor, so loading it is visible
  'T1574.006/src/Linux/T1574.006.c': `#include <stdio.h>
__attribute__((constructor)) static void loaded(void) { fputs("warden-atomics: preload library loaded\\n", stderr); }
`,
  // creates <dir>/<name>, then changes its mode with fchmod, chmod and fchmodat
  'T1222.002/src/T1222.002.c': `#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc < 3) return 2;
  char p[1024];
  snprintf(p, sizeof p, "%s/%s", argv[1], argv[2]);
  int fd = open(p, O_CREAT | O_APPEND, 0600);
  if (fd < 0) return 3;
  fchmod(fd, 0644);
  close(fd);
  chmod(p, 0666);
  int d = open(argv[1], O_RDONLY | O_DIRECTORY);
  if (d >= 0) { fchmodat(d, argv[2], 0755, 0); close(d); }
  return 0;
}
`,
  'T1048.002/src/artifact': 'warden atomics upload test data\n',
};

const WWW_FILES: Record<string, string> = {
  // writes a marker when its stdout is a terminal, as the upstream test script does
  'pipe-to-shell.sh': '#!/bin/sh\nif [ -t 1 ]; then echo "piped" > /tmp/art.txt; fi\necho done\n',
  'atomic.sh': '#!/bin/bash\necho "warden atomics download-and-run test"\n',
};

/** HTTP sink on 127.0.0.1:PORT inside the namespace: serves www/, accepts any upload. */
const SINK_PY = `import http.server, os, sys
root = sys.argv[2]
class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k):
        super().__init__(*a, directory=root, **k)
    def _sink(self):
        n = int(self.headers.get('content-length') or 0)
        if n: self.rfile.read(n)
        self.send_response(200); self.send_header('content-length', '2'); self.end_headers(); self.wfile.write(b'ok')
    do_POST = _sink
    do_PUT = _sink
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
`;

/**
 * Runs inside the new namespaces: overlays, empty /tmp, loopback, seeded secrets, the sink,
 * the prerequisites, then the stub agent. Arguments: harness dir, test dir.
 */
const NS_SH = `#!/bin/bash
set -u
H="$1"; T="$2"
ip link set lo up
mount -t tmpfs -o size=512m tmpfs "$T/ovl" || exit 90
for d in etc root home var opt srv; do
  mkdir -p "$T/ovl/up/$d" "$T/ovl/work/$d"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$T/ovl/up/$d,workdir=$T/ovl/work/$d" "/$d" || exit 91
done
mount -t tmpfs tmpfs /tmp && chmod 1777 /tmp
mount -t tmpfs tmpfs /var/tmp && chmod 1777 /var/tmp
hostname warden-atomics
export HOME=/root USER=root LOGNAME=root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
# fake secrets the credential-access tests look for
mkdir -p /root/.ssh /root/.aws /root/.gnupg/private-keys-v1.d /root/.config/gcloud /home/dev
chmod 700 /root/.ssh /root/.gnupg
printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\\nZmFrZSBrZXkgZm9yIHdhcmRlbiB0ZXN0cw==\\n-----END OPENSSH PRIVATE KEY-----\\n' > /root/.ssh/id_rsa
chmod 600 /root/.ssh/id_rsa
echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForWardenTestsOnly test@warden' > /root/.ssh/authorized_keys
printf '[default]\\naws_access_key_id = AKIAFAKEFAKEFAKEFAKE\\naws_secret_access_key = password-fake\\n' > /root/.aws/credentials
echo 'fake' > /root/.gnupg/private-keys-v1.d/0000.key
echo 'fake' > /root/.config/gcloud/credentials.db
echo 'machine example.com login dev password fake-netrc' > /home/dev/.netrc
printf 'ls\\nssh dev@host\\nmysql -u root -p secretpass\\n' > /root/.bash_history
# the atomics tree where the tests expect it by default
mkdir -p /tmp/AtomicRedTeam && cp -r "$H/atomics" /tmp/AtomicRedTeam/atomics
# loopback HTTP sink
python3 "$H/sink.py" 8000 "$H/www" >/dev/null 2>&1 &
for i in $(seq 1 50); do (echo > /dev/tcp/127.0.0.1/8000) 2>/dev/null && break; sleep 0.1; done
# prerequisites, not attributed to the agent
( cd /tmp && bash "$T/prereq.sh" ) > "$T/prereq.log" 2>&1
# the stub agent: argv[0] "claude", in its own project directory, runs the commands the way
# an agent's shell tool does (executor -c "commands")
mkdir -p "$(cat "$T/cwd")"
cd "$(cat "$T/cwd")"
timeout -s KILL "$(cat "$T/timeout")" bash -c 'exec -a claude bash "$0" "$@"' "$H/agent.sh" "$(cat "$T/tag")" "$(cat "$T/executor")" -c "$(cat "$T/cmd")" < /dev/null > "$T/out.log" 2>&1
echo $? > "$T/rc"
`;

/** The stub agent: run what it is given as a child, like an agent's tool call ($1 is a tag). */
const AGENT_SH = `#!/bin/bash
shift
"$@"
`;

/** The benign session, as commands of the stub agent. */
const BENIGN_CMDS = `set -e
git clone -q /srv/warden-benign/app.git app
cd app
git log --oneline -3 > /dev/null
npm ci --offline --no-audit --no-fund --loglevel=error
npm test > /dev/null
sed -i 's/return a + b/return b + a/' src/math.js
printf 'export const sub = (a, b) => a - b;\\n' > src/sub.js
ls -la src > /dev/null
cat package.json > /dev/null
grep -rn export src > /dev/null
git add -A
git -c user.name=agent -c user.email=agent@example.invalid commit -qm 'Edit math'
git status --short > /dev/null
eval "$(ssh-agent -s)" > /dev/null
ssh-add -q ~/.ssh/id_ed25519
ssh-add -l > /dev/null
ssh-agent -k > /dev/null
`;

/** Prepares the benign session (bare repo, local package tarball, a passphrase-less key). */
const BENIGN_PREREQ = `set -e
mkdir -p /srv/warden-benign && cd /srv/warden-benign
mkdir -p dep && cd dep
printf '{"name":"warden-dep","version":"1.0.0","main":"index.js"}\\n' > package.json
printf 'exports.twice = (x) => 2 * x;\\n' > index.js
npm pack --silent >/dev/null 2>&1
cd ..
mkdir -p work && cd work
git init -q -b main
mkdir src test
printf 'export const add = (a, b) => { return a + b; };\\n' > src/math.js
printf 'import test from "node:test";\\nimport assert from "node:assert";\\nimport { add } from "../src/math.js";\\ntest("add", () => assert.equal(add(1, 2), 3));\\n' > test/math.test.js
printf '{"name":"app","version":"1.0.0","type":"module","scripts":{"test":"node --test test/"},"dependencies":{"warden-dep":"file:/srv/warden-benign/dep/warden-dep-1.0.0.tgz"}}\\n' > package.json
npm install --no-audit --no-fund --loglevel=error >/dev/null 2>&1
rm -rf node_modules
git add -A && git -c user.name=t -c user.email=t@example.invalid commit -qm init
git clone -q --bare . ../app.git
rm -f /root/.ssh/id_ed25519 /root/.ssh/id_ed25519.pub
ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519
`;

function resolveArgs(text: string, a: Atomic, atomicsDir: string): string {
  let out = text;
  const args: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(a.input_arguments ?? {})) args[k] = v.default;
  Object.assign(args, a.offline_input_overrides ?? {});
  for (const [k, v] of Object.entries(args)) out = out.split(`#{${k}}`).join(String(v));
  return out.split('PathToAtomicsFolder').join(atomicsDir).split('<ATOMICS>').join(atomicsDir);
}

function prereqScript(a: Atomic, atomicsDir: string): string {
  const lines = ['#!/bin/bash'];
  for (const d of a.dependencies ?? []) {
    const check = resolveArgs(d.prereq_command ?? 'false', a, atomicsDir);
    const get = resolveArgs(d.get_prereq_command ?? 'true', a, atomicsDir);
    lines.push(`if ! ( ${check}\n) >/dev/null 2>&1; then\n${get}\nfi`);
  }
  return lines.join('\n') + '\n';
}

/** Per-test wall clock limit: the test's own, capped (port scans and `yes` run forever). */
function timeoutFor(a: Atomic, cap: number): number {
  return Math.max(3, Math.min(a.timeout_seconds ?? cap, cap));
}

export interface EvidenceOptions {
  atomics?: Atomic[];
  only?: string[];
  /** Longest a single test may run (seconds). */
  capSeconds?: number;
  log?: (msg: string) => void;
  /** Sensor backend for watch (auto by default). */
  backend?: string;
  /** Keep the work directory (debugging). */
  keep?: boolean;
}

/** Runs the whole corpus (and the benign session) under one `warden watch`. */
export async function runEvidence(opts: EvidenceOptions = {}): Promise<EvidenceReport> {
  const log = opts.log ?? (() => {});
  const cap = opts.capSeconds ?? 15;
  let atomics = opts.atomics ?? loadAtomics();
  if (opts.only?.length) atomics = atomics.filter((a) => opts.only!.includes(a.id));
  const nonce = Math.random().toString(36).slice(2, 8);
  const work = fs.mkdtempSync(`/run/warden-atomics-${nonce}-`);
  fs.chmodSync(work, 0o755);
  const atomicsDir = path.join(work, 'atomics');
  for (const [rel, text] of Object.entries(SUPPORT_FILES)) {
    fs.mkdirSync(path.dirname(path.join(atomicsDir, rel)), { recursive: true });
    fs.writeFileSync(path.join(atomicsDir, rel), text);
  }
  fs.mkdirSync(path.join(work, 'www'));
  for (const [name, text] of Object.entries(WWW_FILES)) fs.writeFileSync(path.join(work, 'www', name), text, { mode: 0o755 });
  fs.writeFileSync(path.join(work, 'sink.py'), SINK_PY);
  fs.writeFileSync(path.join(work, 'ns.sh'), NS_SH, { mode: 0o755 });
  fs.writeFileSync(path.join(work, 'agent.sh'), AGENT_SH, { mode: 0o755 });

  const evFile = path.join(work, 'events.ndjson');
  const runtime = path.join(work, 'runtime');
  fs.mkdirSync(runtime, { mode: 0o700 });
  // one file, never rotated: the harness reads it by offset
  const cfg = path.join(work, 'watch.yaml');
  fs.writeFileSync(cfg, 'output:\n  max_size: 1TB\n');
  const args = ['watch', '-o', evFile, '--config', cfg, '--quiet', ...(opts.backend ? ['--backend', opts.backend] : [])];
  const watch: ChildProcess = spawn(WARDEN_BIN, args, { env: { ...process.env, XDG_RUNTIME_DIR: runtime }, stdio: ['ignore', 'ignore', 'pipe'] });
  let watchErr = '';
  watch.stderr!.on('data', (d) => (watchErr += String(d)));
  // an interrupted run must not leave its monitor behind
  const onSignal = (sig: NodeJS.Signals) => {
    watch.kill('SIGKILL');
    if (!opts.keep) fs.rmSync(work, { recursive: true, force: true });
    process.kill(process.pid, sig);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const events: WardenEvent[] = [];
  const cursor = newCursor();
  const poll = () => {
    for (const e of readAppendedEvents(evFile, cursor)) events.push(e);
  };
  const waitFor = async (pred: () => boolean, ms: number): Promise<boolean> => {
    const end = Date.now() + ms;
    for (;;) {
      poll();
      if (pred()) return true;
      if (watch.exitCode !== null) throw new Error(`warden watch exited (${watch.exitCode}): ${watchErr}`);
      if (Date.now() > end) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  // Each test's agent carries a unique tag in its argv (from the exec tracepoint, so it is
  // known even when the agent exits before its cwd could be read).
  const sessionsByTag = new Map<string, Set<string>>();
  const indexEvents = (from: number) => {
    for (let i = from; i < events.length; i++) {
      const e = events[i]!;
      if (e.kind !== 'agent.start' || !e.agent) continue;
      const tag = e.proc?.argv.find((a) => a.startsWith('warden-atomic-'));
      if (!tag) continue;
      const s = sessionsByTag.get(tag) ?? new Set();
      s.add(e.agent.session);
      sessionsByTag.set(tag, s);
    }
  };

  const runOne = async (id: string, cmd: string, executor: string, prereq: string, timeout: number) => {
    const dir = path.join(work, 't', id.replace(/[^A-Za-z0-9_.-]/g, '_'));
    fs.mkdirSync(path.join(dir, 'ovl'), { recursive: true });
    const cwd = `/root/project-${id.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
    const tag = `warden-atomic-${id.replace(/[^A-Za-z0-9_.-]/g, '_')}-${nonce}`;
    fs.writeFileSync(path.join(dir, 'tag'), tag);
    fs.writeFileSync(path.join(dir, 'cmd'), cmd);
    fs.writeFileSync(path.join(dir, 'executor'), executor);
    fs.writeFileSync(path.join(dir, 'prereq.sh'), prereq);
    fs.writeFileSync(path.join(dir, 'cwd'), cwd);
    fs.writeFileSync(path.join(dir, 'timeout'), String(timeout));
    const t0 = Date.now();
    const start = events.length;
    await new Promise<void>((resolve) => {
      const c = spawn('unshare', ['--mount', '--pid', '--net', '--uts', '--ipc', '--fork', '--propagation', 'private', '--mount-proc', 'bash', path.join(work, 'ns.sh'), work, dir], {
        stdio: 'ignore',
      });
      const kill = setTimeout(() => c.kill('SIGKILL'), (timeout + 60) * 1000);
      c.on('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      c.on('error', () => resolve());
    });
    const seconds = (Date.now() - t0) / 1000;
    // the namespace is gone; wait for the session's end to reach the event file
    const exited = () => {
      indexEvents(start);
      const sessions = sessionsByTag.get(tag);
      return !!sessions && events.some((e) => e.kind === 'agent.exit' && sessions.has(e.agent?.session ?? ''));
    };
    await waitFor(exited, 15_000);
    await waitFor(() => false, 1200); // trailing events (sequences, folded repeats)
    indexEvents(start);
    let rc: number | null = null;
    try {
      rc = Number(fs.readFileSync(path.join(dir, 'rc'), 'utf8').trim());
    } catch {
      /* killed */
    }
    return { tag, seconds, rc };
  };

  try {
    const ready = await waitFor(() => events.some((e) => e.kind === 'monitor.ready'), 180_000);
    if (!ready) throw new Error(`warden watch not ready: ${watchErr}`);
    log(`warden watch ready (${events.find((e) => e.kind === 'monitor.ready')?.data?.['backend'] ?? '?'})`);

    const runs: Array<{ a: Atomic; tag: string; seconds: number; rc: number | null }> = [];
    for (const a of atomics) {
      const r = await runOne(a.id, resolveArgs(a.commands_resolved, a, atomicsDir), a.executor === 'bash' ? 'bash' : 'sh', prereqScript(a, atomicsDir), timeoutFor(a, cap));
      runs.push({ a, ...r });
      log(`${a.id.padEnd(14)} done in ${r.seconds.toFixed(1)} s (exit ${r.rc ?? 'killed'})`);
    }
    const benignRun = await runOne('benign', BENIGN_CMDS, 'bash', `#!/bin/bash\n${BENIGN_PREREQ}`, 120);
    log(`benign session done in ${benignRun.seconds.toFixed(1)} s (exit ${benignRun.rc ?? 'killed'})`);

    const ofSession = (tag: string) => {
      const sessions = sessionsByTag.get(tag) ?? new Set<string>();
      return events.filter((e) => e.agent && sessions.has(e.agent.session));
    };
    const results: AtomicResult[] = runs.map(({ a, tag, seconds, rc }) => {
      const evs = ofSession(tag);
      const flagged = evs.filter((e) => e.severity === 'warn' || e.severity === 'alert');
      const categories = [...new Set(flagged.map((e) => e.category).filter((c): c is NonNullable<typeof c> => !!c))];
      return {
        id: a.id,
        name: a.name,
        expected: a.expected_category,
        detected: flagged.some((e) => e.category === a.expected_category),
        categories,
        rules: [...new Set(flagged.map((e) => e.rule ?? ''))].filter(Boolean),
        alerts: flagged.filter((e) => e.severity === 'alert').length,
        warnings: flagged.filter((e) => e.severity === 'warn').length,
        events: evs.length,
        exitCode: rc,
        seconds,
        agentSeen: evs.some((e) => e.kind === 'agent.start'),
      };
    });
    const byTactic: EvidenceReport['byTactic'] = {};
    for (const r of results) {
      const t = (byTactic[r.expected] ??= { detected: 0, total: 0 });
      t.total++;
      if (r.detected) t.detected++;
    }
    const benignEvents = ofSession(benignRun.tag);
    const lost = events.filter((e) => e.kind === 'monitor.loss').reduce((n, e) => n + Number(e.data?.['lost'] ?? 0), 0);
    return {
      results,
      detected: results.filter((r) => r.detected).length,
      total: results.length,
      byTactic,
      benign: {
        events: benignEvents.length,
        alerts: benignEvents.filter((e) => e.severity === 'alert').length,
        warnings: benignEvents.filter((e) => e.severity === 'warn').length,
        rules: [...new Set(benignEvents.filter((e) => e.severity !== 'info').map((e) => `${e.severity}:${e.rule}: ${e.message ?? ''}`))],
        agentSeen: benignEvents.some((e) => e.kind === 'agent.start'),
        exitCode: benignRun.rc,
      },
      watchEvents: events.length,
      lost,
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (watch.exitCode === null) {
      const done = new Promise((r) => watch.once('exit', r));
      watch.kill('SIGINT');
      await Promise.race([done, new Promise((r) => setTimeout(r, 20_000))]);
      if (watch.exitCode === null) watch.kill('SIGKILL');
    }
    if (!opts.keep) fs.rmSync(work, { recursive: true, force: true });
  }
}

/** A markdown table of the per-tactic detection counts. */
export function tacticTable(r: EvidenceReport): string {
  const rows = Object.entries(r.byTactic).sort((a, b) => b[1].total - a[1].total);
  let out = '| tactic | detected |\n|---|---|\n';
  for (const [t, v] of rows) out += `| ${t} | ${v.detected}/${v.total} |\n`;
  out += `| **all** | **${r.detected}/${r.total}** |\n`;
  return out;
}
