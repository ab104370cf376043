// Public entry point of the rule engine: loads the default ruleset (rules/default/*.yaml,
// found relative to the package so `bin/warden` works from any cwd) plus user files, and
// returns a RuleEngine. Every problem is a ConfigError naming file, line and rule.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, parseYaml } from '../config/load.js';
import { AGENTS } from '../agents/catalog.js';
import { PERSISTENCE_PATHS, SECRET_PATHS, WORKSPACE_PROTECTED } from '../config/defaults.js';
import { compileSet, type CompiledSet } from './compile.js';
import type { CorrelatorLimits } from './correlate.js';
import { Engine, type RuleEngine, type RuleInfo } from './engine.js';
import { emptySet, expandRuleFiles, mergeFile, parseRuleFile, readRuleFile, type MergedSet } from './loader.js';
import { parseDestEntry } from './paths.js';

export type { RuleEngine, RuleInfo } from './engine.js';

export interface LoadRuleEngineOptions {
  /** User rule files (or directories of *.yaml), applied after the defaults, in order. */
  files?: string[];
  /** Rule ids to disable (`*` wildcards allowed); each entry must match a rule. */
  disable?: string[];
  /** `network.allow` of the watch config: exposed to rules as the list `network_allow`. */
  networkAllow?: string[];
  /** Load rules/default/*.yaml (default true). */
  defaults?: boolean;
  /** Optional rulesets shipped with Warden (rules/packs/NAME), loaded after the defaults: `rules.packs` of the watch config. */
  packs?: string[];
  /** In-memory rule files (tests, `rules lint` of stdin), applied after `files`. */
  sources?: Array<{ file: string; text: string }>;
  /** Bounds of the sequence/threshold state. */
  limits?: Partial<CorrelatorLimits>;
  /** Where disable and networkAllow come from, so their errors name the config file and line. */
  config?: ConfigSource;
}

/** A watch config file and the line of a key in it (config/watch-config.ts configSource()). */
export interface ConfigSource {
  file: string;
  line(path: ReadonlyArray<string | number>): number | undefined;
}

function configError(src: ConfigSource | undefined, path: [string, string, number], detail: string): ConfigError {
  return new ConfigError(src?.file ?? '<config>', src?.line(path), `${path[0]}.${path[1]}[${path[2]}]`, detail);
}

/** rules/default relative to the package root (works from dist/ and from src/ under vitest). */
export function defaultRulesDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, '..', '..', 'rules', 'default');
}

/** rules/packs: the optional rulesets shipped with Warden (e.g. sigma, the converted community rules). */
export function packsDir(): string {
  return path.resolve(defaultRulesDir(), '..', 'packs');
}

/** Names of the shipped optional rulesets. */
export function availablePacks(): string[] {
  const dir = packsDir();
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((d) => fs.statSync(path.join(dir, d)).isDirectory()).sort() : [];
}

export function defaultFixturesDir(): string {
  return path.resolve(defaultRulesDir(), '..', 'fixtures');
}

/** The built-in lists every rule file can use, shared with the sandbox (src/config/defaults.ts). */
export function builtinLists(networkAllow: readonly string[]): Record<string, string[]> {
  return {
    secret_paths: SECRET_PATHS.map((p) => p.pattern),
    persistence_paths: PERSISTENCE_PATHS.map((p) => p.pattern),
    workspace_protected: [...WORKSPACE_PROTECTED],
    network_allow: [...networkAllow],
    agent_credentials: AGENTS.flatMap((a) => a.credentials),
    ...Object.fromEntries(AGENTS.map((a) => [`agent_credentials_${a.name.replace(/-/g, '_')}`, [...a.credentials]])),
    // Where each agent keeps its own state (its tokens included): what its own session may look up.
    ...Object.fromEntries(AGENTS.map((a) => [`agent_state_${a.name.replace(/-/g, '_')}`, [...a.stateDirs, ...a.credentials]])),
  };
}

function addBuiltins(set: MergedSet, networkAllow: readonly string[]): void {
  const parsed = parseYaml('{}', '<builtin>');
  for (const [name, items] of Object.entries(builtinLists(networkAllow))) {
    set.lists.set(name, { name, items, loc: { parsed, at: [] }, builtin: true });
  }
}

/** Loads and merges definitions without compiling (for `rules lint`). */
export function loadDefinitions(opts: LoadRuleEngineOptions = {}): MergedSet {
  const set = emptySet();
  const allow = opts.networkAllow ?? [];
  allow.forEach((e, i) => {
    if (!parseDestEntry(e)) {
      throw configError(opts.config, ['network', 'allow', i], `invalid destination ${JSON.stringify(e)} (expected host, *.domain, IP or CIDR, optionally :port)`);
    }
  });
  addBuiltins(set, allow);
  const files: string[] = [];
  if (opts.defaults ?? true) {
    const dir = defaultRulesDir();
    if (!fs.existsSync(dir)) throw new ConfigError(dir, undefined, undefined, 'default rules directory is missing (broken installation?)');
    files.push(...expandRuleFiles([dir]));
  }
  (opts.packs ?? []).forEach((name, i) => {
    if (!availablePacks().includes(name)) {
      throw configError(opts.config, ['rules', 'packs', i], `unknown rule pack ${JSON.stringify(name)} (shipped: ${availablePacks().join(', ') || 'none'})`);
    }
    files.push(...expandRuleFiles([path.join(packsDir(), name)]));
  });
  files.push(...expandRuleFiles(opts.files ?? []));
  for (const f of files) {
    const { parsed, value } = parseRuleFile(readRuleFile(f), f);
    mergeFile(set, parsed, value);
  }
  for (const s of opts.sources ?? []) {
    const { parsed, value } = parseRuleFile(s.text, s.file);
    mergeFile(set, parsed, value);
  }
  return set;
}

function applyDisable(set: MergedSet, disable: readonly string[], src: ConfigSource | undefined): void {
  disable.forEach((pat, i) => {
    const re = new RegExp('^' + pat.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$');
    let hit = 0;
    for (const m of [set.rules, set.sequences, set.thresholds]) {
      for (const r of m.values()) {
        if (re.test(r.id)) {
          r.enabled = false;
          hit++;
        }
      }
    }
    if (!hit) throw configError(src, ['rules', 'disable', i], `no rule matches ${JSON.stringify(pat)}`);
  });
}

export function compileRules(opts: LoadRuleEngineOptions = {}): CompiledSet {
  const set = loadDefinitions(opts);
  applyDisable(set, opts.disable ?? [], opts.config);
  return compileSet(set);
}

/** Loads the default and user rules into an engine. Throws ConfigError on any invalid rule. */
export function loadRuleEngine(opts: LoadRuleEngineOptions = {}): RuleEngine {
  return new Engine(compileRules(opts), opts.limits);
}

export function describeRules(engine: RuleEngine): RuleInfo[] {
  return engine.rules();
}
