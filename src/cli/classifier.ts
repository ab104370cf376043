// The classification step of the pipeline: the rule engine built from the watch config
// (default rules, user rule files, disabled ids, the network allowlist).
import { configSource, type WatchConfig } from '../config/watch-config.js';
import type { UnstampedEvent } from '../events/types.js';
import { loadRuleEngine } from '../rules/index.js';
import type { RuleAction } from '../rules/schema.js';

export interface Classifier {
  process(ev: UnstampedEvent, emit: (e: UnstampedEvent) => void): void;
  stats(): Record<string, number>;
  /** The action a rule asks for (kill | kill_session | freeze | deny), if any. */
  actionFor?(id: string): RuleAction | undefined;
}

/** Throws ConfigError (file, line, rule) when the rules are invalid: the monitor must not start. */
export async function loadClassifier(cfg: WatchConfig): Promise<Classifier> {
  return loadRuleEngine({ files: cfg.rules.files, packs: cfg.rules.packs, disable: cfg.rules.disable, networkAllow: cfg.network.allow, config: configSource(cfg) });
}
