// The wider Atomic Red Team corpus (../shared/atomics/art-linux: 314 Linux tests as upstream
// YAML, tactic per test in linux-index.csv) turned into tests the evidence harness runs
// (atomics-harness.ts): input arguments resolved with their defaults, adapted for a disposable
// namespace with loopback only (URLs to the loopback sink, host names resolved to 127.0.0.1,
// whole-filesystem searches narrowed to $HOME), the tactics of the index, the held-out split,
// and the tests that cannot run here with the reason.
//
// Held out: tests outside the development set whose sha256(auto_generated_guid) starts with a
// byte below 52 (about a fifth). Rule work did not look at them; their figure is reported apart.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadAtomics, PACKAGE_ROOT, runEvidence, type Atomic, type AtomicResult, type EvidenceOptions, type EvidenceReport } from './atomics-harness.js';

export const CORPUS_DIR = path.resolve(PACKAGE_ROOT, '..', 'shared', 'atomics', 'art-linux');

/** ATT&CK tactic names of the index (v18) → Warden categories. */
const TACTICS: Record<string, string> = {
  stealth: 'defense_evasion',
  'defense-impairment': 'defense_evasion',
  'defense-evasion': 'defense_evasion',
  'credential-access': 'credential_access',
  'command-and-control': 'command_and_control',
  'privilege-escalation': 'privilege_escalation',
  'initial-access': 'initial_access',
};
const tactic = (t: string): string => TACTICS[t] ?? t.replace(/-/g, '_');

/** Tactic of techniques the index leaves out (their tests are in the YAML but not the CSV). */
const TECHNIQUE_TACTIC: Record<string, string> = {
  'T1569.002': 'execution',
  'T1578.002': 'defense_evasion',
  T1580: 'discovery',
  'T1685.002': 'defense_evasion',
};

/**
 * Tests that cannot run here whatever their prerequisites say, with the reason. Tests whose
 * declared prerequisites fail offline (a tool from the internet, a package not installed) are
 * found at run time and reported with the prerequisite's own description.
 */
export const CANNOT_RUN: Record<string, string> = {
  // platform
  'T1049-6': 'FreeBSD tool (sockstat)',
  'T1078.003-10': 'FreeBSD tool (pw)',
  'T1082-6': 'FreeBSD tool (kldstat)',
  'T1082-26': 'FreeBSD tool (kldstat)',
  'T1136.001-2': 'FreeBSD tool (pw)',
  'T1136.001-7': 'FreeBSD tool (pw)',
  'T1222.002-10': 'FreeBSD tool (chflags)',
  'T1543.002-2': 'FreeBSD rc.d service directory (/usr/local/etc/rc.d)',
  'T1685-6': 'CentOS only (rpm query decides what runs; nothing runs on Debian)',
  'T1070.003-10': 'needs Docker',
  'T1195.002-1': 'needs kubectl and a Kubernetes cluster',
  'T1568.002-1': 'the DGA script is not in the corpus (src/ is empty) and its download fails offline (the weak prerequisite check then passes on an empty file)',
  'T1572-7': 'the cloudflared binary comes from the internet (the prerequisite check passes on an empty download)',
  'T1027.002-1': 'the UPX-packed test binary is not in the corpus (left out upstream: binary)',
  'T1027.002-2': 'the UPX-packed test binary is not in the corpus (left out upstream: binary)',
  'T1027.004-5': 'needs Go (not installed)',
  'T1486-1': 'broken upstream: $which_gpg is only set in the prerequisite, so the command runs nothing',
  'T1486-2': 'broken upstream: $which_7z is only set in the prerequisite (and 7z is not installed)',
  // held-out tests, classified by the same criteria once the rules were frozen and the held-out figure taken
  'T1497.001-2': 'FreeBSD tool (sysctl hw.hv_vendor)',
  'T1553.004-2': 'FreeBSD tool and path (certctl, /usr/local/share/certs)',
  'T1685-64': 'FreeBSD audit configuration (/etc/security/audit_event)',
  'T1553.004-1': 'CentOS/RHEL only (update-ca-trust, /etc/pki/ca-trust)',
  'T1115-5': 'needs xclip (installed by the test itself with apt, offline here) and an X display',
  // unsafe even in a namespace
  'T1070.004-8': 'rm -rf / : would empty the namespace (its /dev too) and flood the monitor with unlinks; covered by rule fixtures',
};

export interface CorpusTest extends Atomic {
  guid: string;
  /** Every tactic the index lists for the test (Warden categories); the first is the one it is counted under. */
  tactics: string[];
  heldOut: boolean;
  dev: boolean;
  /** Why it cannot run here, if it cannot. */
  cannotRun?: string;
}

interface YamlTest {
  name: string;
  auto_generated_guid: string;
  description?: string;
  supported_platforms?: string[];
  input_arguments?: Record<string, { default?: unknown; type?: string }>;
  dependency_executor_name?: string;
  dependencies?: Array<{ description?: string; prereq_command?: string; get_prereq_command?: string }>;
  executor: { name: string; command?: string; steps?: string; elevation_required?: boolean; cleanup_command?: string };
  upstream_test_number: number;
}

export function isHeldOut(guid: string): boolean {
  return createHash('sha256').update(guid).digest()[0]! < 52;
}

function readIndex(dir: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const lines = fs.readFileSync(path.join(dir, 'linux-index.csv'), 'utf8').split('\n').slice(1);
  for (const line of lines) {
    // Tactic,Technique #,Technique Name,Test #,Test Name,Test GUID,Executor Name (names may hold commas in quotes)
    const m = line.match(/^([^,]+),([^,]+),.*,([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}),[^,]*$/);
    if (!m) continue;
    const t = tactic(m[1]!);
    const list = out.get(m[3]!) ?? [];
    if (!list.includes(t)) list.push(t);
    out.set(m[3]!, list);
  }
  return out;
}

/** Loads every Linux test of the corpus. */
export function loadCorpus(dir = CORPUS_DIR, devIds: ReadonlySet<string> = new Set()): CorpusTest[] {
  const index = readIndex(dir);
  const out: CorpusTest[] = [];
  for (const tdir of fs.readdirSync(dir).filter((d) => /^T\d+/.test(d)).sort()) {
    const file = path.join(dir, tdir, `${tdir}.yaml`);
    if (!fs.existsSync(file)) continue;
    const doc = parseYaml(fs.readFileSync(file, 'utf8')) as { attack_technique: string; atomic_tests: YamlTest[] };
    for (const t of doc.atomic_tests) {
      if (!t.supported_platforms?.includes('linux')) continue;
      const id = `${doc.attack_technique}-${t.upstream_test_number}`;
      const tactics = index.get(t.auto_generated_guid) ?? [TECHNIQUE_TACTIC[doc.attack_technique] ?? 'unknown'];
      const dev = devIds.has(id);
      const exec = t.executor.name;
      let cannotRun = CANNOT_RUN[id];
      if (exec === 'manual') cannotRun = 'manual steps (no executor)';
      else if (exec === 'powershell') cannotRun = 'PowerShell executor';
      out.push({
        id,
        guid: t.auto_generated_guid,
        name: t.name,
        technique: doc.attack_technique,
        executor: exec,
        elevation_required: !!t.executor.elevation_required,
        expected_category: tactics[0]!,
        tactics,
        commands_resolved: t.executor.command ?? t.executor.steps ?? '',
        input_arguments: t.input_arguments ?? {},
        offline_input_overrides: offlineOverrides(t.input_arguments ?? {}),
        dependencies: t.dependencies ?? [],
        heldOut: !dev && isHeldOut(t.auto_generated_guid),
        dev,
        ...(cannotRun ? { cannotRun } : {}),
      });
    }
  }
  return out;
}

const LOOPBACK = /^(127\.|localhost$|::1$)/;

/**
 * Offline adaptations of input arguments, the same way for every test: URLs keep their host
 * and path but go over plain HTTP (the host resolves to the loopback sink, see hostsOf), and a
 * search of the whole filesystem ("/") searches $HOME instead (as the development set does).
 */
export function offlineOverrides(args: Record<string, { default?: unknown }>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    const d = v.default;
    if (typeof d !== 'string') continue;
    if (/^https:\/\//i.test(d)) out[k] = d.replace(/^https:/i, 'http:');
    else if (d === '/' && /path|folder|dir/i.test(k)) out[k] = '$HOME';
  }
  return out;
}

/** Host names a test's text refers to (URLs, host/domain arguments): resolved to 127.0.0.1 in its namespace. */
export function hostsOf(text: string, args: Record<string, { default?: unknown }>): string[] {
  const hosts = new Set<string>();
  for (const m of text.matchAll(/\bhttps?:\/\/([A-Za-z0-9.-]+)/g)) hosts.add(m[1]!.toLowerCase());
  for (const [k, v] of Object.entries(args)) {
    if (typeof v.default !== 'string' || !/host|domain|server|target|url/i.test(k)) continue;
    const m = v.default.match(/^(?:https?:\/\/)?([A-Za-z][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)+)(?:[:/]|$)/);
    if (m) hosts.add(m[1]!.toLowerCase());
    else if (/^[A-Za-z][A-Za-z0-9-]*$/.test(v.default) && /host/i.test(k)) hosts.add(v.default.toLowerCase());
  }
  return [...hosts].filter((h) => !LOOPBACK.test(h) && !/^[0-9.]+$/.test(h));
}

/** Commands with https:// URLs served over plain HTTP by the loopback sink. */
export function offlineCommands(text: string): string {
  return text.replace(/\bhttps:\/\/(?=[A-Za-z0-9.-]+)/g, 'http://');
}

/** A corpus test ready for the harness: offline commands and the host names to resolve locally. */
export function toRunnable(t: CorpusTest): CorpusTest {
  const text = [t.commands_resolved, ...t.dependencies.flatMap((d) => [d.prereq_command ?? '', d.get_prereq_command ?? ''])].join('\n');
  const argText = Object.values(t.input_arguments)
    .map((v) => String(v.default ?? ''))
    .join('\n');
  return {
    ...t,
    commands_resolved: offlineCommands(t.commands_resolved),
    dependencies: t.dependencies.map((d) => ({
      ...d,
      ...(d.prereq_command ? { prereq_command: offlineCommands(d.prereq_command) } : {}),
      ...(d.get_prereq_command ? { get_prereq_command: offlineCommands(d.get_prereq_command) } : {}),
    })),
    hosts: hostsOf(text + '\n' + argText, t.input_arguments),
  };
}

export interface CorpusReport {
  report: EvidenceReport;
  /** The development set (atomics-dev.json, counted under its expected category). */
  dev: AtomicResult[];
  /** Corpus tests outside the development set that rule work looked at. */
  tuned: AtomicResult[];
  /** Corpus tests held out until the rules were frozen. */
  heldOut: AtomicResult[];
  /** Tests that cannot run here (static reason) and tests whose prerequisites failed. */
  cannotRun: Array<{ id: string; tactic: string; reason: string; heldOut: boolean }>;
}

/**
 * Runs the development set and every corpus test that can run here under one `warden watch`
 * and groups the results: dev, tuned corpus, held-out corpus. `heldOut: false` leaves the
 * held-out tests out of the run.
 */
export async function runCorpusEvidence(opts: EvidenceOptions & { heldOut?: boolean; corpusOnly?: string[] } = {}): Promise<CorpusReport> {
  const dev = loadAtomics();
  const devIds = new Set(dev.map((a) => a.id));
  const corpus = loadCorpus(CORPUS_DIR, devIds).filter((t) => !t.dev && (opts.heldOut !== false || !t.heldOut));
  const chosen = opts.corpusOnly ? corpus.filter((t) => opts.corpusOnly!.includes(t.id)) : corpus;
  const runnable = chosen.filter((t) => !t.cannotRun).map(toRunnable);
  const devRun = opts.corpusOnly ? [] : dev;
  const report = await runEvidence({ ...opts, atomics: [...devRun, ...runnable], supportTree: CORPUS_DIR });
  const byId = new Map(chosen.map((t) => [t.id, t]));
  const ran = report.results;
  return {
    report,
    dev: ran.filter((r) => devIds.has(r.id)),
    tuned: ran.filter((r) => byId.has(r.id) && !byId.get(r.id)!.heldOut),
    heldOut: ran.filter((r) => byId.get(r.id)?.heldOut),
    cannotRun: [
      ...chosen.filter((t) => t.cannotRun).map((t) => ({ id: t.id, tactic: t.tactics[0]!, reason: t.cannotRun!, heldOut: t.heldOut })),
      ...report.notRun.map((r) => ({ id: r.id, tactic: r.expected, reason: `prerequisite not met here: ${r.notRun}`, heldOut: !!byId.get(r.id)?.heldOut })),
    ],
  };
}

/** Per-tactic detection of a group of results, as a markdown table with the missed tests. */
export function groupTable(results: AtomicResult[]): string {
  const by = new Map<string, AtomicResult[]>();
  for (const r of results) by.set(r.expected, [...(by.get(r.expected) ?? []), r]);
  let out = '| tactic | detected | missed |\n|---|---|---|\n';
  for (const [t, rs] of [...by.entries()].sort((a, b) => b[1].length - a[1].length)) {
    out += `| ${t} | ${rs.filter((r) => r.detected).length}/${rs.length} | ${rs.filter((r) => !r.detected).map((r) => r.id).join(', ') || '-'} |\n`;
  }
  const d = results.filter((r) => r.detected).length;
  out += `| **all** | **${d}/${results.length}** (${results.length ? Math.round((100 * d) / results.length) : 0} %) | |\n`;
  return out;
}
