// `warden doctor`: what this host supports for each part of Warden and what to install or
// change. Every check is tried for real where that is cheap (spawning bpftrace, creating a
// user namespace), because guessing from config files is how support requests start.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { sandboxCapabilities } from '../sandbox/capabilities.js';
import { TRACEFS, tracefsMounted } from '../sensors/tracefs.js';
import { ebpfSensorStatus } from '../sensors/ebpf/sensor.js';
import { bpfUnavailable } from './watch.js';
import { toolEnv } from '../util/sbin-path.js';

type Status = 'ok' | 'warn' | 'missing' | 'info';

export interface Check {
  area: 'monitor' | 'sandbox' | 'egress' | 'reporting';
  name: string;
  status: Status;
  detail: string;
  fix?: string;
}

function version(cmd: string, args: string[] = ['--version']): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000, env: toolEnv() }); // finds nft as egress does
  if (r.error || r.status !== 0) return undefined;
  return (r.stdout || r.stderr).trim().split('\n')[0];
}

function exists(p: string): boolean {
  return fs.existsSync(p);
}

function osName(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)/m.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

export function monitorChecks(): { checks: Check[]; backend: string; blindSpots: string[] } {
  const checks: Check[] = [];
  const root = process.getuid?.() === 0;
  checks.push(
    root
      ? { area: 'monitor', name: 'privileges', status: 'ok', detail: 'running as root' }
      : { area: 'monitor', name: 'privileges', status: 'warn', detail: 'not root: kernel tracing is unavailable, watch runs as a /proc poller', fix: 'run warden watch as root (sudo)' },
  );
  const tracefs = tracefsMounted();
  checks.push(
    tracefs
      ? { area: 'monitor', name: 'tracefs', status: 'ok', detail: `mounted at ${TRACEFS}` }
      : {
          area: 'monitor',
          name: 'tracefs',
          status: root ? 'info' : 'warn',
          detail: `not mounted at ${TRACEFS}`,
          fix: root ? 'warden watch mounts it at start' : `sudo mount -t tracefs nodev ${TRACEFS}`,
        },
  );
  checks.push(
    exists('/sys/kernel/btf/vmlinux')
      ? { area: 'monitor', name: 'kernel BTF', status: 'ok', detail: '/sys/kernel/btf/vmlinux present' }
      : { area: 'monitor', name: 'kernel BTF', status: 'warn', detail: 'no /sys/kernel/btf/vmlinux: socket and task fields cannot be read', fix: 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y' },
  );
  const bpftrace = version('bpftrace');
  checks.push(
    bpftrace
      ? { area: 'monitor', name: 'bpftrace', status: 'ok', detail: bpftrace }
      : { area: 'monitor', name: 'bpftrace', status: 'missing', detail: 'not installed', fix: 'apt-get install bpftrace' },
  );
  let unpriv = '';
  try {
    unpriv = fs.readFileSync('/proc/sys/kernel/unprivileged_bpf_disabled', 'utf8').trim();
  } catch {
    /* no BPF syscall at all */
  }
  checks.push({
    area: 'monitor',
    name: 'kprobes',
    status: 'info',
    detail: !exists(`${TRACEFS}/events`)
      ? 'unknown (tracefs is not readable here); Warden needs tracepoints only'
      : !exists(`${TRACEFS}/kprobe_events`)
        ? 'not available on this kernel; Warden needs tracepoints only'
        : 'available (not needed: Warden uses tracepoints only)',
  });
  if (unpriv === '') checks.push({ area: 'monitor', name: 'BPF', status: 'missing', detail: 'kernel without the bpf() syscall', fix: 'a kernel with CONFIG_BPF_SYSCALL=y' });
  const ebpf = ebpfSensorStatus({ load: root });
  checks.push(
    ebpf.loadable
      ? { area: 'monitor', name: 'compiled sensor', status: 'ok', detail: `${ebpf.binary}: ${ebpf.detail}` }
      : {
          area: 'monitor',
          name: 'compiled sensor',
          status: ebpf.built && !root ? 'info' : 'warn',
          detail: ebpf.detail,
          fix: ebpf.built ? undefined : 'apt-get install clang llvm libbpf-dev libelf-dev bpftool gcc && npm run build:native',
        },
  );
  const bpftraceWhy = bpfUnavailable();
  const kernel = ebpf.loadable ? 'ebpf' : bpftraceWhy ? undefined : 'bpftrace';
  const why = kernel ? undefined : root ? bpftraceWhy : 'not running as root (BPF tracing needs root)';
  const backend = kernel ?? 'procfs';
  const blindSpots = why
    ? ['short-lived processes', 'file opens closed before the next poll', 'DNS and UDP', 'failed attempts', 'exit codes']
    : ['file and network activity through io_uring (its setup is reported)', 'paths are as passed (symlinks not resolved)'];
  checks.push({
    area: 'monitor',
    name: 'watch backend',
    status: why ? 'warn' : 'ok',
    detail: why
      ? `procfs poller (DEGRADED: ${why})`
      : kernel === 'ebpf'
        ? 'compiled eBPF sensor with kernel tracepoints (full visibility)'
        : 'bpftrace with kernel tracepoints (full visibility; the compiled sensor is faster)',
  });
  return { checks, backend, blindSpots };
}

function sandboxChecks(): Check[] {
  const c = sandboxCapabilities();
  const out: Check[] = [];
  out.push(
    c.bwrap
      ? { area: 'sandbox', name: 'bubblewrap', status: 'ok', detail: `${c.bwrap.path} ${c.bwrap.version}` }
      : { area: 'sandbox', name: 'bubblewrap', status: 'missing', detail: 'not installed', fix: 'apt-get install bubblewrap' },
  );
  out.push(
    c.userns.ok
      ? { area: 'sandbox', name: 'user namespaces', status: 'ok', detail: `usable${c.userns.nested ? ' (inside a user namespace already)' : ''}` }
      : { area: 'sandbox', name: 'user namespaces', status: 'missing', detail: c.userns.problem?.cause ?? c.userns.detail ?? 'cannot create one', fix: c.userns.problem?.fix },
  );
  out.push(
    c.seccomp.available && c.seccomp.filterArch
      ? { area: 'sandbox', name: 'seccomp', status: 'ok', detail: `filters for ${c.seccomp.filterArch}` }
      : { area: 'sandbox', name: 'seccomp', status: 'missing', detail: 'seccomp filters unavailable', fix: 'a kernel with CONFIG_SECCOMP_FILTER=y' },
  );
  const lim = c.cgroups.limits;
  const layout = [c.cgroups.v2 ? `v2 at ${c.cgroups.v2.mount} (controllers: ${c.cgroups.v2.controllers.join(' ') || 'none'})` : '', c.cgroups.v1.length ? `v1: ${c.cgroups.v1.map((h) => h.controllers.join(',')).join(' ')}` : '']
    .filter(Boolean)
    .join('; ');
  const missingLimits = (['memory', 'pids', 'cpu'] as const).filter((k) => !lim[k]);
  out.push({
    area: 'sandbox',
    name: 'cgroups',
    status: missingLimits.length ? 'warn' : 'ok',
    detail: `${layout || 'none found'}; limits: memory ${lim.memory ?? 'unavailable'}, pids ${lim.pids ?? 'unavailable'}, cpu ${lim.cpu ?? 'unavailable'}`,
    fix: missingLimits.length ? 'run warden run as root, or delegate a cgroup to this user' : undefined,
  });
  for (const a of c.advice) if (!out.some((x) => x.fix === a)) out.push({ area: 'sandbox', name: 'advice', status: 'info', detail: a });
  return out;
}

function egressChecks(): Check[] {
  const out: Check[] = [];
  const root = process.getuid?.() === 0;
  const nft = version('nft', ['--version']);
  out.push(nft ? { area: 'egress', name: 'nftables', status: 'ok', detail: nft } : { area: 'egress', name: 'nftables', status: 'missing', detail: 'nft not installed', fix: 'apt-get install nftables' });
  const ip = version('ip', ['-V']);
  out.push(ip ? { area: 'egress', name: 'iproute2', status: 'ok', detail: ip } : { area: 'egress', name: 'iproute2', status: 'missing', detail: 'ip not installed', fix: 'apt-get install iproute2' });
  out.push({
    area: 'egress',
    name: 'mode',
    status: 'info',
    detail: root ? 'root: veth + nftables in the host namespace' : 'rootless: user + network namespace with an in-namespace relay (no /dev/net/tun needed)',
  });
  const conntrack = version('conntrack', ['--version']);
  out.push(
    conntrack
      ? { area: 'egress', name: 'conntrack', status: 'ok', detail: conntrack }
      : { area: 'egress', name: 'conntrack', status: 'info', detail: 'conntrack tool not installed (only needed for debugging; the proxy reads SO_ORIGINAL_DST)', fix: 'apt-get install conntrack' },
  );
  const koffi = spawnSync(process.execPath, ['-e', "require('koffi').load('libc.so.6')"], { timeout: 10_000, cwd: new URL('../..', import.meta.url).pathname });
  out.push(
    koffi.status === 0
      ? { area: 'egress', name: 'koffi (FFI)', status: 'ok', detail: 'loads libc: SO_ORIGINAL_DST and SO_PEERCRED available' }
      : { area: 'egress', name: 'koffi (FFI)', status: 'missing', detail: 'the koffi module does not load', fix: 'npm ci (koffi ships prebuilt binaries for linux-x64/arm64)' },
  );
  if (root) {
    const rules = spawnSync('nft', ['list', 'ruleset'], { encoding: 'utf8', timeout: 5000, env: toolEnv() }).stdout ?? '';
    const dropIn = /hook input[^;]*;\s*policy drop/.test(rules);
    out.push(
      dropIn
        ? { area: 'egress', name: 'host firewall', status: 'warn', detail: 'an nftables input chain drops by default: root-mode egress needs the sandbox veth to reach the proxy', fix: 'allow input on interfaces named wdh* (the sandbox veths of Warden), or use rootless mode' }
        : { area: 'egress', name: 'host firewall', status: 'ok', detail: 'no input chain with policy drop' },
    );
  }
  const unshare = spawnSync('unshare', ['-Urn', 'true'], { timeout: 5000 });
  out.push(
    unshare.status === 0
      ? { area: 'egress', name: 'network namespaces', status: 'ok', detail: 'a user + network namespace can be created' }
      : { area: 'egress', name: 'network namespaces', status: 'missing', detail: 'unshare -Urn failed', fix: 'enable unprivileged user namespaces (see the sandbox user namespaces check)' },
  );
  return out;
}

function reportingChecks(): Check[] {
  const out: Check[] = [];
  const systemd = exists('/run/systemd/system');
  out.push(
    systemd
      ? { area: 'reporting', name: 'systemd', status: 'ok', detail: 'running: warden service install can register the monitor' }
      : { area: 'reporting', name: 'systemd', status: 'info', detail: 'not running (no /run/systemd/system): start warden watch from your init system or a terminal; see warden service --help' },
  );
  const bus = process.env.DBUS_SESSION_BUS_ADDRESS || process.env.DISPLAY || process.env.WAYLAND_DISPLAY;
  const notify = spawnSync('sh', ['-c', 'command -v notify-send'], { encoding: 'utf8' }).status === 0;
  out.push({
    area: 'reporting',
    name: 'desktop notifications',
    status: bus && notify ? 'ok' : 'info',
    detail: bus && notify ? 'notify-send and a session bus' : `${notify ? '' : 'notify-send missing (apt-get install libnotify-bin); '}${bus ? '' : 'no desktop session bus'}: alerts go to the terminal instead`,
  });
  return out;
}

const MARK: Record<Status, string> = { ok: 'ok  ', warn: 'WARN', missing: 'MISS', info: 'info' };
const TITLES: Record<Check['area'], string> = {
  monitor: 'Monitor (warden watch)',
  sandbox: 'Sandbox (warden run)',
  egress: 'Egress (warden run, network: allowlist)',
  reporting: 'Reporting',
};

export async function runDoctor(opts: { json?: boolean }): Promise<number> {
  const mon = monitorChecks();
  const checks = [...mon.checks, ...sandboxChecks(), ...egressChecks(), ...reportingChecks()];
  const host = { os: osName(), kernel: os.release(), arch: process.arch, node: process.version, uid: process.getuid?.() ?? -1 };
  if (opts.json) {
    process.stdout.write(JSON.stringify({ host, watch_backend: mon.backend, blind_spots: mon.blindSpots, checks }, null, 2) + '\n');
    return 0;
  }
  const out: string[] = [`Warden doctor: ${host.os}, kernel ${host.kernel} ${host.arch}, node ${host.node}, uid ${host.uid}`];
  for (const area of Object.keys(TITLES) as Array<Check['area']>) {
    out.push('', TITLES[area]);
    for (const c of checks.filter((x) => x.area === area)) {
      out.push(`  ${MARK[c.status]}  ${c.name.padEnd(22)} ${c.detail}`);
      if (c.fix && c.status !== 'ok') out.push(`        ${''.padEnd(22)} fix: ${c.fix}`);
    }
  }
  out.push('', `warden watch would run with: ${mon.backend}`, `it cannot see: ${mon.blindSpots.join('; ')}`);
  const bad = checks.filter((c) => c.status === 'missing' || c.status === 'warn');
  out.push(bad.length ? `${bad.length} item(s) need attention (marked WARN/MISS).` : 'Everything Warden uses is available.');
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}
