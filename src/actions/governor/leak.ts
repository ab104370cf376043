// Leak detection: memory that only grows. Samples of one series (a session, a tool) are kept
// for a window; when the window is full and the series never fell by more than a little
// (allocators return some memory now and then) while it grew by at least `minGrowth`, it is
// a leak. After a report the window starts again, so a steady leak is reported once per window.
export interface LeakReport {
  fromBytes: number;
  toBytes: number;
  windowMs: number;
  /** Bytes per second over the window. */
  rate: number;
}

export class LeakDetector {
  private samples: Array<{ t: number; v: number }> = [];

  constructor(
    private readonly windowMs: number,
    private readonly minGrowth: number,
    /** A fall smaller than this fraction of the value does not break the growth. */
    private readonly tolerance = 0.02,
  ) {}

  push(t: number, v: number): LeakReport | undefined {
    const last = this.samples[this.samples.length - 1];
    if (last && v < last.v * (1 - this.tolerance)) {
      // It fell: growth starts again from here.
      this.samples = [{ t, v }];
      return undefined;
    }
    this.samples.push({ t, v });
    const first = this.samples[0]!;
    if (t - first.t < this.windowMs) return undefined;
    // Keep only what the window needs: the oldest sample at or before t - window.
    while (this.samples.length > 2 && t - this.samples[1]!.t >= this.windowMs) this.samples.shift();
    const from = this.samples[0]!;
    const growth = v - from.v;
    if (growth < this.minGrowth) return undefined;
    const windowMs = t - from.t;
    this.samples = [{ t, v }];
    return { fromBytes: from.v, toBytes: v, windowMs, rate: (growth * 1000) / windowMs };
  }
}
