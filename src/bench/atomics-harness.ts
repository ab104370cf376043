// Evidence harness for the default ruleset (issues #3, #11): runs Atomic Red Team Linux tests
// (../shared/atomics/atomics-dev.json, and the wider corpus of atomics-corpus.ts) while
// `warden watch` runs, each inside a disposable mount/pid/net/uts/ipc namespace:
//   * every top-level directory of the host is an overlay on a tmpfs (the root itself is
//     read-only), /tmp and /run are empty tmpfs, /dev is a fresh tmpfs with only the harmless
//     devices, /sys, /proc/sys, /proc/sysrq-trigger and friends are read-only (as Docker does);
//   * the agent runs with the capabilities that reach beyond the namespaces removed from its
//     bounding set (modules, reboot, clock, mount/sys_admin, raw I/O, mknod, syslog, MAC),
//     so a test that loads a kernel module, reboots or sets the clock is an attempt the
//     kernel refuses, seen by the sensor, that changes nothing outside;
//   * loopback networking only: host names the test names resolve to 127.0.0.1 (/etc/hosts)
//     and an HTTP sink on 127.0.0.1:80 and :8000 serves the corpus's support files and accepts
//     uploads; DNS goes to 127.0.0.1.
// Inside, a stub agent (argv[0] `claude`) runs the test's commands with its executor
// (`sh -c "..."`, like an agent's shell tool), with fake secrets seeded. Prerequisites run
// before the agent starts, so they are not attributed to it; when they still fail afterwards
// (a tool from the internet, a package not installed) the test is reported as not runnable
// with the prerequisite's description, and its agent is not started.
//
// A test counts as detected when the monitor reported a warn or alert of one of the test's
// tactics attributed to that agent session. A benign agent session (local git clone,
// npm ci from a local tarball, tests, edits, ssh-agent) runs the same way and must raise no
// alert. Used by test/integration/atomics.test.ts and `npm run bench atomics`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WardenEvent } from '../events/types.js';
import { newCursor, readAppendedEvents } from '../events/ndjson-cursor.js';
import { loadRuleEngine } from '../rules/index.js';
import { DEFAULT_SESSIONS, type BenignSession } from './benign-sessions.js';

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
  /** Every tactic the test stands for (default: [expected_category]). */
  tactics?: string[];
  /** Host names resolved to 127.0.0.1 in the test's namespace. */
  hosts?: string[];
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
  /** Set when the test did not run: a prerequisite that still failed after its install step. */
  notRun?: string;
}

export interface SessionResult {
  name: string;
  events: number;
  alerts: number;
  warnings: number;
  rules: string[];
  agentSeen: boolean;
  exitCode: number | null;
  /** Why the session did not run here (a tool it needs is absent). */
  skipped?: string;
  /** The session's events as the monitor reported them (for recording). */
  recorded: WardenEvent[];
}

export interface EvidenceReport {
  /** Tests that ran. */
  results: AtomicResult[];
  /** Tests whose prerequisites could not be met here (not counted). */
  notRun: AtomicResult[];
  detected: number;
  total: number;
  byTactic: Record<string, { detected: number; total: number }>;
  /** The first benign session (the git + npm session of issue #3). */
  benign: { events: number; alerts: number; warnings: number; rules: string[]; agentSeen: boolean; exitCode: number | null };
  sessions: SessionResult[];
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

/** The development set (each test counted under its expected category only). */
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

/**
 * HTTP sink inside the namespace (127.0.0.1, the ports given): serves a test's support file
 * when the URL names one of the corpus (…/atomics/T1234/src/file, as the upstream URLs do), a
 * file of www/ by its base name, a stand-in shell script for other *.sh (so a download piped
 * into a shell still runs a shell), 404 otherwise (a tool, program or archive from the internet
 * is not there, and a prerequisite that needs it fails); accepts any upload.
 */
const SINK_PY = `import http.server, os, re, sys, threading
root, atomics = sys.argv[2], sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def _file(self):
        p = self.path.split('?')[0]
        m = re.search(r'/atomics/(T[0-9.]+/src/[^?#]+)$', p)
        if m and os.path.isfile(os.path.join(atomics, m.group(1))):
            return open(os.path.join(atomics, m.group(1)), 'rb').read()
        base = os.path.basename(p)
        if base and os.path.isfile(os.path.join(root, base)):
            return open(os.path.join(root, base), 'rb').read()
        if re.search(r'\\.sh$', base):
            return ('#!/bin/sh\\necho "warden atomics stand-in for %s"\\n' % p).encode()
        return None
    def do_GET(self):
        body = self._file()
        if body is None:
            self.send_response(404); self.send_header('content-length', '0'); self.end_headers(); return
        self.send_response(200); self.send_header('content-length', str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_HEAD(self):
        self.send_response(200); self.send_header('content-length', '0'); self.end_headers()
    def _sink(self):
        n = int(self.headers.get('content-length') or 0)
        if n: self.rfile.read(n)
        self.send_response(200); self.send_header('content-length', '2'); self.end_headers(); self.wfile.write(b'ok')
    do_POST = _sink
    do_PUT = _sink
    def log_message(self, *a): pass
servers = [http.server.ThreadingHTTPServer(('127.0.0.1', int(p)), H) for p in sys.argv[1].split(',')]
for s in servers[1:]: threading.Thread(target=s.serve_forever, daemon=True).start()
servers[0].serve_forever()
`;

/**
 * Runs inside the new namespaces (cwd = the test's directory, which stays reachable through
 * the cwd after /run is covered): overlays and masks, loopback, seeded secrets, the sink, the
 * prerequisites, then the stub agent. Argument: the harness directory.
 */
const NS_SH = `#!/bin/bash
set -u
H="$1"
ip link set lo up
mount --make-rprivate / || exit 89
# the test's directory as a mount of its own: it stays writable when the root is made read-only
mount --bind "$PWD" "$PWD" && cd "$PWD" || exit 88
mount -t tmpfs -o size=512m tmpfs ovl || exit 90
# the harness's files, copied before /run (where they live) is covered
mkdir -p ovl/harness && cp -r "$H/atomics" "$H/www" "$H/sink.py" "$H/agent.sh" prereq.sh ovl/harness/ || exit 92
TAG=$(cat tag); EXECUTOR=$(cat executor); CMD=$(cat cmd); CWD=$(cat cwd); TIMEOUT=$(cat timeout); HOSTS=$(cat hosts)
# every top-level directory of the host: an overlay on the tmpfs; the root itself read-only
for d in $(ls -A /); do
  [ -d "/$d" ] && [ ! -L "/$d" ] || continue
  case "$d" in proc|sys|dev|run|tmp|lost+found) continue ;; farm|old_root) mount -t tmpfs -o ro,size=1k tmpfs "/$d"; continue ;; esac
  mkdir -p "ovl/up/$d" "ovl/work/$d"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$PWD/ovl/up/$d,workdir=$PWD/ovl/work/$d" "/$d" || exit 91
done
mount -o remount,bind,ro / || exit 96
mount -t tmpfs -o size=512m tmpfs /tmp && chmod 1777 /tmp
mount -t tmpfs -o size=64m tmpfs /run && mkdir -p /run/lock /run/user
mkdir -p /opt/warden-atomics && cp -r ovl/harness/. /opt/warden-atomics/
# /dev: a fresh tmpfs with the harmless devices only (no disks, no /dev/mem)
mkdir -p ovl/dev && mount -t tmpfs -o size=16m,mode=755 tmpfs ovl/dev || exit 93
for n in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do set -- $n; mknod -m 666 "ovl/dev/$1" c "$2" "$3"; done
mkdir ovl/dev/pts ovl/dev/shm && chmod 1777 ovl/dev/shm
ln -s /proc/self/fd ovl/dev/fd; ln -s fd/0 ovl/dev/stdin; ln -s fd/1 ovl/dev/stdout; ln -s fd/2 ovl/dev/stderr; ln -s pts/ptmx ovl/dev/ptmx
mount --move ovl/dev /dev || exit 94
mount -t devpts -o newinstance,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o size=64m tmpfs /dev/shm && chmod 1777 /dev/shm
# kernel interfaces global to the host: read-only or hidden (Docker's list)
for p in /proc/sys /proc/sysrq-trigger /proc/bus /proc/fs /proc/irq; do
  [ -e "$p" ] && mount --bind "$p" "$p" && mount -o remount,bind,ro "$p"
done
for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/kmsg; do [ -e "$p" ] && mount --bind /dev/null "$p"; done
for m in $(findmnt -R -n -l -o TARGET /sys | sort -r); do mount -o remount,bind,ro "$m" || exit 95; done
hostname warden-atomics
echo "nameserver 127.0.0.1" > /etc/resolv.conf
for h in $HOSTS; do echo "127.0.0.1 $h" >> /etc/hosts; done
export HOME=/root USER=root LOGNAME=root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
export PathToAtomicsFolder=/tmp/AtomicRedTeam/atomics PIP_NO_INDEX=1 DEBIAN_FRONTEND=noninteractive
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
mkdir -p /tmp/AtomicRedTeam && cp -r /opt/warden-atomics/atomics /tmp/AtomicRedTeam/atomics
# loopback HTTP sink
python3 /opt/warden-atomics/sink.py 80,8000 /opt/warden-atomics/www /tmp/AtomicRedTeam/atomics >/dev/null 2>&1 &
for i in $(seq 1 50); do (echo > /dev/tcp/127.0.0.1/8000) 2>/dev/null && break; sleep 0.1; done
# prerequisites, not attributed to the agent; a test whose prerequisites still fail is not run
( cd /tmp && bash /opt/warden-atomics/prereq.sh ) > prereq.log 2>&1
if [ -s /opt/warden-atomics/prereq-failed ]; then cp /opt/warden-atomics/prereq-failed prereq-failed; echo 0 > rc; exit 0; fi
# the stub agent: argv[0] "claude", in its own project directory, runs the commands the way
# an agent's shell tool does (executor -c "commands"), without the capabilities that reach
# outside the namespaces
mkdir -p "$CWD"
( cd "$CWD" && exec timeout -s KILL "$TIMEOUT" setpriv --bounding-set=-sys_module,-sys_pacct,-dac_read_search,-sys_boot,-sys_time,-sys_admin,-sys_rawio,-mknod,-syslog,-mac_admin,-mac_override,-wake_alarm,-block_suspend,-bpf,-perfmon,-audit_control,-sys_resource -- bash -c 'exec -a claude bash "$0" "$@"' /opt/warden-atomics/agent.sh "$TAG" "$EXECUTOR" -c "$CMD" ) < /dev/null > out.log 2>&1
echo $? > rc
`;

/** The stub agent: run what it is given as a child, like an agent's tool call ($1 is a tag). */
const AGENT_SH = `#!/bin/bash
shift
"$@"
`;

/** Where the tests find the atomics tree inside the namespace. */
const ATOMICS_IN_NS = '/tmp/AtomicRedTeam/atomics';

function resolveArgs(text: string, a: Atomic): string {
  let out = text;
  const args: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(a.input_arguments ?? {})) args[k] = v.default;
  Object.assign(args, a.offline_input_overrides ?? {});
  // twice: a default may refer to another argument
  for (let i = 0; i < 2; i++) for (const [k, v] of Object.entries(args)) out = out.split(`#{${k}}`).join(String(v));
  return out.split('$PathToAtomicsFolder').join(ATOMICS_IN_NS).split('PathToAtomicsFolder').join(ATOMICS_IN_NS).split('<ATOMICS>').join(ATOMICS_IN_NS);
}

/**
 * The prerequisites: for each, the check, else the install step, then the check again; a
 * check that still fails names the test's prerequisite in prereq-failed (the test is then
 * reported as not runnable here, with that description).
 */
function prereqScript(a: Atomic): string {
  const lines = ['#!/bin/bash', 'failed=/opt/warden-atomics/prereq-failed'];
  for (const d of a.dependencies ?? []) {
    const check = resolveArgs(d.prereq_command ?? 'false', a);
    const get = resolveArgs(d.get_prereq_command ?? 'true', a);
    const desc = (d.description ?? 'prerequisite').trim().replace(/\s+/g, ' ').replace(/[\r\n]/g, ' ');
    lines.push(
      `if ! ( ${check}\n) >/dev/null 2>&1; then\n( timeout 60 bash -c ${shQuote(get)} )\n` +
        `if ! ( ${check}\n) >/dev/null 2>&1; then printf '%s\\n' ${shQuote(desc)} >> "$failed"; fi\nfi`,
    );
  }
  return lines.join('\n') + '\n';
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
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
  /** Benign developer sessions to run after the tests (default: the git + npm session; [] for none). */
  sessions?: BenignSession[];
  /** Optional rule packs the monitor loads (rules.packs), e.g. ['sigma']. */
  packs?: string[];
  /** A directory copied as the atomics tree the tests use (the corpus with its src/ files); the dev set's own support files are added. */
  supportTree?: string;
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
  if (opts.supportTree) fs.cpSync(opts.supportTree, atomicsDir, { recursive: true });
  for (const [rel, text] of Object.entries(SUPPORT_FILES)) {
    if (fs.existsSync(path.join(atomicsDir, rel))) continue;
    fs.mkdirSync(path.dirname(path.join(atomicsDir, rel)), { recursive: true });
    fs.writeFileSync(path.join(atomicsDir, rel), text);
  }
  fs.mkdirSync(atomicsDir, { recursive: true });
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
  fs.writeFileSync(cfg, `output:\n  max_size: 1TB\n${opts.packs?.length ? `rules:\n  packs: [${opts.packs.join(', ')}]\n` : ''}`);
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
  // An agent started inside a tagged session (a real `claude` run by the stub) gets a session
  // of its own: it belongs to the tag of the session whose process started it.
  const sessionsByTag = new Map<string, Set<string>>();
  const tagOfPid = new Map<number, string>();
  const tagOfSession = new Map<string, string>();
  const indexEvents = (from: number) => {
    for (let i = from; i < events.length; i++) {
      const e = events[i]!;
      if (!e.agent) continue;
      const known = tagOfSession.get(e.agent.session);
      if (known && e.proc) tagOfPid.set(e.proc.pid, known);
      if (e.kind !== 'agent.start') continue;
      const tag = e.proc?.argv.find((a) => a.startsWith('warden-atomic-')) ?? (e.proc ? tagOfPid.get(e.proc.ppid) : undefined);
      if (!tag) continue;
      tagOfSession.set(e.agent.session, tag);
      if (e.proc) tagOfPid.set(e.proc.pid, tag);
      const s = sessionsByTag.get(tag) ?? new Set();
      s.add(e.agent.session);
      sessionsByTag.set(tag, s);
    }
  };

  interface RunSpec {
    id: string;
    cmd: string;
    executor: string;
    prereq: string;
    timeout: number;
    hosts: string[];
  }
  const runOne = async (spec: RunSpec) => {
    const safe = spec.id.replace(/[^A-Za-z0-9_.-]/g, '_');
    const dir = path.join(work, 't', safe);
    fs.mkdirSync(path.join(dir, 'ovl'), { recursive: true });
    const tag = `warden-atomic-${safe}-${nonce}`;
    fs.writeFileSync(path.join(dir, 'tag'), tag);
    fs.writeFileSync(path.join(dir, 'cmd'), spec.cmd);
    fs.writeFileSync(path.join(dir, 'executor'), spec.executor);
    fs.writeFileSync(path.join(dir, 'prereq.sh'), spec.prereq);
    fs.writeFileSync(path.join(dir, 'cwd'), `/root/project-${safe}`);
    fs.writeFileSync(path.join(dir, 'timeout'), String(spec.timeout));
    fs.writeFileSync(path.join(dir, 'hosts'), spec.hosts.join('\n') + '\n');
    const t0 = Date.now();
    const start = events.length;
    tagOfPid.clear(); // pids of earlier tests may be reused
    await new Promise<void>((resolve) => {
      const c = spawn('unshare', ['--mount', '--pid', '--net', '--uts', '--ipc', '--fork', '--propagation', 'private', '--mount-proc', 'bash', path.join(work, 'ns.sh'), work], {
        cwd: dir,
        stdio: 'ignore',
      });
      const kill = setTimeout(() => c.kill('SIGKILL'), (spec.timeout + 120) * 1000);
      c.on('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      c.on('error', () => resolve());
    });
    const seconds = (Date.now() - t0) / 1000;
    let notRun: string | undefined;
    try {
      notRun = fs.readFileSync(path.join(dir, 'prereq-failed'), 'utf8').trim().split('\n').join('; ');
    } catch {
      /* ran */
    }
    if (notRun === undefined) {
      // the namespace is gone; wait for the session's end to reach the event file
      const exited = () => {
        indexEvents(start);
        const sessions = sessionsByTag.get(tag);
        return !!sessions && events.some((e) => e.kind === 'agent.exit' && sessions.has(e.agent?.session ?? ''));
      };
      await waitFor(exited, 15_000);
      await waitFor(() => false, 1200); // trailing events (sequences, folded repeats)
      indexEvents(start);
    }
    let rc: number | null = null;
    try {
      rc = Number(fs.readFileSync(path.join(dir, 'rc'), 'utf8').trim());
    } catch {
      /* killed */
    }
    return { tag, seconds, rc, notRun };
  };

  try {
    const ready = await waitFor(() => events.some((e) => e.kind === 'monitor.ready'), 180_000);
    if (!ready) throw new Error(`warden watch not ready: ${watchErr}`);
    log(`warden watch ready (${events.find((e) => e.kind === 'monitor.ready')?.data?.['backend'] ?? '?'})`);

    const runs: Array<{ a: Atomic; tag: string; seconds: number; rc: number | null; notRun?: string }> = [];
    const agentSeen = (tag: string) => [...(sessionsByTag.get(tag) ?? [])].length > 0;
    for (const a of atomics) {
      const spec = {
        id: a.id,
        cmd: resolveArgs(a.commands_resolved, a),
        executor: a.executor === 'bash' ? 'bash' : 'sh',
        prereq: prereqScript(a),
        timeout: timeoutFor(a, cap),
        hosts: a.hosts ?? [],
      };
      let r = await runOne(spec);
      // an agent that exits before the monitor has read its command line is not seen as one:
      // such a run says nothing about the rules, so it is run once more
      if (r.notRun === undefined && !agentSeen(r.tag)) {
        log(`${a.id.padEnd(14)} agent not seen, running it again`);
        r = await runOne({ ...spec, id: `${a.id}.retry` });
      }
      runs.push({ a, ...r });
      log(`${a.id.padEnd(14)} ${r.notRun ? `not run (prerequisite: ${r.notRun})` : `done in ${r.seconds.toFixed(1)} s (exit ${r.rc ?? 'killed'})`}`);
    }
    const sessionRuns: Array<{ s: BenignSession; tag: string; rc: number | null; notRun?: string }> = [];
    for (const sess of opts.sessions ?? DEFAULT_SESSIONS) {
      // a session whose tools are absent is skipped (prerequisite check), not failed
      const needs = (sess.needs ?? []).map((n) => `if ! ( ${n} ) >/dev/null 2>&1; then printf '%s\\n' ${JSON.stringify(`needs: ${n}`)} >> /opt/warden-atomics/prereq-failed; fi`).join('\n');
      const r = await runOne({ id: `benign-${sess.name}`, cmd: sess.script, executor: 'bash', prereq: `#!/bin/bash\n${needs}\n${sess.prepare ?? ''}`, timeout: sess.timeout ?? 120, hosts: [] });
      sessionRuns.push({ s: sess, ...r });
      log(`benign ${sess.name.padEnd(20)} ${r.notRun ? `skipped (${r.notRun})` : `done in ${r.seconds.toFixed(1)} s (exit ${r.rc ?? 'killed'})`}`);
    }

    const ofSession = (tag: string) => {
      const sessions = sessionsByTag.get(tag) ?? new Set<string>();
      return events.filter((e) => e.agent && sessions.has(e.agent.session));
    };
    // an event carries the category of its top rule; the other warn/alert rules it matched
    // (`also`) name what else it is (an rsync push is exfiltration and ingress transfer)
    const ruleCategory = new Map(
      loadRuleEngine()
        .rules()
        .filter((r) => r.severity !== 'info' && r.category)
        .map((r) => [r.id, r.category!]),
    );
    const allResults: AtomicResult[] = runs.map(({ a, tag, seconds, rc, notRun }) => {
      const evs = ofSession(tag);
      const flagged = evs.filter((e) => e.severity === 'warn' || e.severity === 'alert');
      const categories = [
        ...new Set(flagged.flatMap((e) => [e.category, ...(e.also ?? []).map((id) => ruleCategory.get(id))]).filter((c): c is NonNullable<typeof c> => !!c)),
      ];
      const tactics = a.tactics ?? [a.expected_category];
      return {
        id: a.id,
        name: a.name,
        expected: a.expected_category,
        detected: notRun === undefined && categories.some((c) => tactics.includes(c)),
        categories,
        rules: [...new Set(flagged.map((e) => e.rule ?? ''))].filter(Boolean),
        alerts: flagged.filter((e) => e.severity === 'alert').length,
        warnings: flagged.filter((e) => e.severity === 'warn').length,
        events: evs.length,
        exitCode: rc,
        seconds,
        agentSeen: evs.some((e) => e.kind === 'agent.start'),
        ...(notRun !== undefined ? { notRun } : {}),
      };
    });
    const notRun = allResults.filter((r) => r.notRun !== undefined);
    const results = allResults.filter((r) => r.notRun === undefined);
    const byTactic: EvidenceReport['byTactic'] = {};
    for (const r of results) {
      const t = (byTactic[r.expected] ??= { detected: 0, total: 0 });
      t.total++;
      if (r.detected) t.detected++;
    }
    const sessions: SessionResult[] = sessionRuns.map(({ s: sess, tag, rc, notRun }) => {
      const evs = ofSession(tag);
      return {
        name: sess.name,
        events: evs.length,
        alerts: evs.filter((e) => e.severity === 'alert').length,
        warnings: evs.filter((e) => e.severity === 'warn').length,
        rules: [...new Set(evs.filter((e) => e.severity !== 'info').map((e) => `${e.severity}:${e.rule}: ${e.message ?? ''}`))],
        agentSeen: evs.some((e) => e.kind === 'agent.start'),
        exitCode: rc,
        ...(notRun !== undefined ? { skipped: notRun } : {}),
        recorded: evs,
      };
    });
    const first = sessions[0];
    // Records dropped for want of buffer space; repeats the sensor sheds by design under a flood
    // (rate_limited, shed: the kinds rules need are kept) are reported by monitor.loss, not lost here.
    const lost = events
      .filter((e) => e.kind === 'monitor.loss')
      .reduce((n, e) => {
        const why = e.data?.['by_reason'] as Record<string, number> | undefined;
        return n + Number(why ? (why.dropped ?? 0) : (e.data?.['lost'] ?? 0));
      }, 0);
    return {
      results,
      notRun,
      detected: results.filter((r) => r.detected).length,
      total: results.length,
      byTactic,
      benign: {
        events: first?.events ?? 0,
        alerts: first?.alerts ?? 0,
        warnings: first?.warnings ?? 0,
        rules: first?.rules ?? [],
        agentSeen: first?.agentSeen ?? false,
        exitCode: first?.exitCode ?? null,
      },
      sessions,
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
