// What a benchmark reports. Every figure that is a speed is given as a ratio against a
// baseline measured in the same run (same machine, same moment), never as a bare number.

export interface Figure {
  /** Stable id, e.g. "watch.wall_ratio". */
  id: string;
  label: string;
  value: number;
  unit: string;
  /** For ratios: the two measurements it was computed from. */
  measured?: number;
  baseline?: number;
  /** Human target, e.g. "<= 1.10". */
  target?: string;
  /** Whether the target was met (undefined when no target). */
  met?: boolean;
  note?: string;
}

export interface BenchContext {
  /** Scale factor for quick runs (BENCH_QUICK=1 gives 0.1). */
  scale: number;
  log(msg: string): void;
}

export interface Bench {
  name: string;
  /** Issue number the figures belong to. */
  issue: number;
  description: string;
  /** Why it cannot run here (e.g. not root), or undefined if it can. */
  unavailable?(): Promise<string | undefined>;
  run(ctx: BenchContext): Promise<Figure[]>;
}

export function ratio(
  id: string,
  label: string,
  measured: number,
  baseline: number,
  opts: { target?: number; lowerIsBetter?: boolean; note?: string } = {},
): Figure {
  const value = baseline === 0 ? NaN : measured / baseline;
  const lower = opts.lowerIsBetter ?? true;
  return {
    id,
    label,
    value,
    unit: 'x',
    measured,
    baseline,
    target: opts.target === undefined ? undefined : `${lower ? '<=' : '>='} ${opts.target}`,
    met: opts.target === undefined ? undefined : lower ? value <= opts.target : value >= opts.target,
    note: opts.note,
  };
}

/** Percentile of a numeric sample (nearest-rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
