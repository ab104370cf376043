// The list of benchmarks `npm run bench` runs. Add a module under bench/ and one line here.
import type { Bench } from './types.js';

export async function loadBenches(): Promise<Bench[]> {
  const mods: Array<Promise<{ default: Bench }>> = [
    import('./watch.js'),
    import('./sinks.js'),
    import('./run.js'),
    import('./egress.js'),
    import('./inspect.js'),
    import('./rules.js'),
    import('./atomics.js'),
    import('./governor.js'),
  ];
  const list = await Promise.all(mods);
  return list.map((m) => m.default);
}
