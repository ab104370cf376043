// Tiers of a session's memory against its soft limit: 85 %, 95 %, the limit. Each tier is
// reported once when crossed upwards and re-armed when usage falls 10 points below it, so a
// session hovering at a threshold does not flood the log.
export interface TierTracker {
  /** The highest tier reported and not yet re-armed (0 = none). */
  level: number;
}

const HYSTERESIS = 10;

/** Tiers crossed by this sample (ascending); updates the tracker. */
export function crossedTiers(t: TierTracker, usage: number, limit: number, tiers: number[]): number[] {
  if (limit <= 0) return [];
  const pct = (usage / limit) * 100;
  const all = [...tiers, 100].sort((a, b) => a - b);
  while (t.level > 0 && pct < t.level - HYSTERESIS) t.level = all.filter((x) => x < t.level).pop() ?? 0;
  const out = all.filter((x) => pct >= x && x > t.level);
  if (out.length) t.level = out[out.length - 1]!;
  return out;
}
