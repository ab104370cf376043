// What the governor gives each agent session: its limits (the agent's built-in defaults from
// the catalog, then `governor.defaults`, then `governor.agents.NAME`), the mode, and the
// thresholds of its reports. Pure: the watch config in, plain numbers out.
import { agentLimits, DEFAULT_AGENT_LIMITS, AGENTS } from '../../agents/catalog.js';
import type { WatchConfig } from '../../config/watch-config.js';
import { parseSize } from '../../util/size.js';

export type GovernorMode = 'warn' | 'throttle' | 'kill' | 'off';

export interface SessionLimits {
  /** What happens at the limit (governor.mode, or the agent's own `mode`; `off`: not governed). */
  mode: GovernorMode;
  /** Soft limit: tiers are measured against it; throttle/kill act when it is reached. */
  memoryHigh: number;
  /** Hard limit: the kernel's (the OOM killer, or a pause in throttle mode). */
  memoryMax: number;
  cpuWeight?: number;
  cpus?: number;
  pids?: number;
}

export interface GovernorSettings {
  enabled: boolean;
  mode: GovernorMode;
  intervalMs: number;
  /** Percent of the soft limit at which a warning is reported (the limit itself is 100). */
  tiers: number[];
  leakWindowMs: number;
  leakMinGrowth: number;
  burnWindowMs: number;
  burnMinShare: number;
  limitsFor(agent: string): SessionLimits;
}

export const TIERS = [85, 95];

type LimitEntry = WatchConfig['governor']['defaults'];

export function governorSettings(cfg: WatchConfig): GovernorSettings {
  const g = cfg.governor;
  return {
    enabled: g.enabled,
    mode: g.mode,
    intervalMs: g.interval_ms,
    tiers: TIERS,
    leakWindowMs: g.leak.window_s * 1000,
    leakMinGrowth: parseSize(g.leak.min_growth),
    burnWindowMs: g.cpu_burn.window_s * 1000,
    burnMinShare: g.cpu_burn.min_share,
    limitsFor: (agent) => resolveLimits(agent, g.defaults, g.agents[agent], g.mode),
  };
}

/**
 * Built-in per agent, overridden by `defaults` (for every agent) and by the agent's own entry.
 * A soft limit above the hard one is lowered to it.
 */
export function resolveLimits(agent: string, defaults: LimitEntry, own?: LimitEntry, mode: GovernorMode = 'warn'): SessionLimits {
  const builtin = AGENTS.some((a) => a.name === agent) ? agentLimits(agent) : DEFAULT_AGENT_LIMITS;
  const pick = <K extends keyof LimitEntry>(k: K): LimitEntry[K] => own?.[k] ?? defaults[k];
  const max = parseSize(pick('memory_max') ?? builtin.memoryMax);
  // A hard limit given without a soft one keeps the built-in ratio (3/4 of it for most agents).
  const highGiven = pick('memory_high');
  const ratio = parseSize(builtin.memoryHigh) / parseSize(builtin.memoryMax);
  const high = highGiven !== undefined ? parseSize(highGiven) : pick('memory_max') !== undefined ? Math.round(max * ratio) : parseSize(builtin.memoryHigh);
  return {
    mode: pick('mode') ?? mode,
    memoryHigh: Math.min(high, max),
    memoryMax: max,
    cpuWeight: pick('cpu_weight') ?? builtin.cpuWeight,
    cpus: pick('cpus'),
    pids: pick('pids') ?? builtin.pids,
  };
}

/** "3.0 GiB", "512 MiB" for messages. */
export function fmtBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${Math.round(n / 1024 ** 2)} MiB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KiB`;
  return `${n} B`;
}
