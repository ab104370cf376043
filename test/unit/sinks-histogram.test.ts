// FastHistogram must print exactly what prom-client prints for a label-less Histogram.
import client from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FastHistogram } from '../../src/sinks/histogram.js';

const BOUNDS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30];

describe('FastHistogram', () => {
  it('matches prom-client, empty and after observations', async () => {
    const a = new client.Registry();
    const b = new client.Registry();
    const ref = new client.Histogram({ name: 'x_seconds', help: 'Some help', buckets: BOUNDS, registers: [a] });
    const fast = new FastHistogram('x_seconds', 'Some help', BOUNDS, b);
    expect(await b.metrics()).toBe(await a.metrics());
    for (const v of [0, 0.0005, 0.001, 0.0011, 0.007, 0.05, 0.2, 0.99, 1, 4.5, 29, 30, 31, 1000, 0.3333]) {
      ref.observe(v);
      fast.observe(v);
    }
    expect(await b.metrics()).toBe(await a.metrics());
    // JSON form (not used by Warden, but the registry offers it): same values, no exemplars
    const strip = (ms: Array<{ values: Array<{ labels: unknown; value: number; metricName?: string }> }>) =>
      ms.map((m) => ({ ...m, values: m.values.map(({ labels, value, metricName }) => ({ labels, value, metricName })) }));
    expect(strip((await b.getMetricsAsJSON()) as never)).toEqual(strip((await a.getMetricsAsJSON()) as never));
  });
});
