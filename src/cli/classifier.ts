// The classification step of the pipeline: the rule engine when it is available, else a
// pass-through that leaves every event at its sensor severity.
import type { WatchConfig } from '../config/watch-config.js';
import type { UnstampedEvent } from '../events/types.js';

export interface Classifier {
  process(ev: UnstampedEvent, emit: (e: UnstampedEvent) => void): void;
  stats(): Record<string, number>;
}

export async function loadClassifier(cfg: WatchConfig, _emit: (e: UnstampedEvent) => void): Promise<Classifier> {
  const spec = '../rules/index.js';
  let mod: { loadRuleEngine?: (o: unknown) => Classifier } | undefined;
  try {
    mod = (await import(spec)) as typeof mod;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
  }
  if (mod?.loadRuleEngine) {
    return mod.loadRuleEngine({ files: cfg.rules.files, disable: cfg.rules.disable, networkAllow: cfg.network.allow });
  }
  return { process: (ev, emit) => emit(ev), stats: () => ({}) };
}
