// The events and messages a sandbox run ends with: limits that were hit (cgroup counters) and
// protected paths the sandbox changed (what was moved aside).
import type { UnstampedEvent } from '../events/types.js';
import type { CgroupStats } from './cgroups.js';
import type { RunPolicy } from './policy.js';
import type { ProtectViolation } from './protect.js';

export type EmitSandbox = (e: Omit<UnstampedEvent, 'ts' | 'sandbox'>) => void;

export function reportLimits(s: CgroupStats, policy: RunPolicy, ev: EmitSandbox, log: (m: string) => void): void {
  if (s.oomKills) {
    log(`memory limit (${policy.resources.memoryBytes} bytes) reached: ${s.oomKills} process(es) killed by the OOM killer`);
    ev({
      kind: 'sandbox.deny',
      severity: 'warn',
      rule: 'sandbox.memory_limit',
      category: 'impact',
      mitre: ['T1499'],
      message: `memory limit reached: ${s.oomKills} process(es) OOM-killed`,
      data: { reason: 'memory', limit_bytes: policy.resources.memoryBytes, oom_kills: s.oomKills, peak_bytes: s.memoryPeakBytes },
    });
  }
  if (s.pidsLimitHits) {
    log(`process limit (${policy.resources.pids}) reached ${s.pidsLimitHits} time(s): fork/clone failed`);
    ev({
      kind: 'sandbox.deny',
      severity: 'warn',
      rule: 'sandbox.pids_limit',
      category: 'impact',
      mitre: ['T1499'],
      message: `process limit reached ${s.pidsLimitHits} time(s)`,
      data: { reason: 'pids', limit: policy.resources.pids, hits: s.pidsLimitHits },
    });
  }
}

export function reportTimeout(policy: RunPolicy, ev: EmitSandbox): void {
  ev({
    kind: 'sandbox.deny',
    severity: 'warn',
    rule: 'sandbox.timeout',
    category: 'impact',
    mitre: ['T1499'],
    message: `wall-clock timeout (${policy.resources.timeoutMs} ms) reached; the sandbox was stopped`,
    data: { reason: 'timeout', limit_ms: policy.resources.timeoutMs },
  });
}

export function reportViolations(v: ProtectViolation[], ev: EmitSandbox, log: (m: string) => void): void {
  for (const x of v) {
    const what = x.quarantinedTo ? `moved aside to ${x.quarantinedTo}` : x.error ? `could not be moved aside: ${x.error}` : 'left in place';
    const why = x.reason ? ` (${x.reason})` : '';
    log(`protected path ${x.path} was ${x.change.replace('_', ' ')} by the sandbox${why}; ${what}`);
    ev({
      kind: 'sandbox.deny',
      severity: 'alert',
      rule: 'sandbox.protected_path',
      category: 'persistence',
      mitre: ['T1546'],
      message: `protected path ${x.path} ${x.change.replace('_', ' ')} inside the sandbox${why}; ${what}`,
      file: { path: x.path, op: x.change === 'created' ? 'create' : 'rename' },
      data: { reason: 'protected_path', change: x.change, quarantined_to: x.quarantinedTo, error: x.error, detail: x.reason },
    });
  }
}
