// Hand parser for `warden run` arguments, so the common case starts without loading
// commander. Returns undefined for anything it does not understand (then commander parses
// and reports it), so both paths accept the same options.
export interface RunCliOptions {
  policy?: string;
  /** `REF:PATH`: the repository's policy from git objects, laid over --policy so that it can only tighten it. */
  policyRef?: string;
  audit?: string;
  network?: string;
  monitor?: boolean;
  /** Agent profile: a name, `auto` (from the command; the default) or `none`. */
  agent?: string;
  printPolicy?: boolean;
  quiet?: boolean;
  /** Run with the policy widened and write the policy the run needed to this file (`true`: the default name). */
  learn?: string | boolean;
}

const VALUED: Record<string, keyof RunCliOptions> = { '--policy': 'policy', '-p': 'policy', '--policy-ref': 'policyRef', '--audit': 'audit', '--network': 'network', '--agent': 'agent' };
const FLAGS: Record<string, keyof RunCliOptions> = { '--monitor': 'monitor', '--print-policy': 'printPolicy', '--quiet': 'quiet', '-q': 'quiet', '--learn': 'learn' };

export function parseRunArgs(args: string[]): { command: string[]; opts: RunCliOptions } | undefined {
  const opts: RunCliOptions = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return args.length > i + 1 ? { command: args.slice(i + 1), opts } : undefined;
    if (!a.startsWith('-')) return { command: args.slice(i), opts };
    const flag = FLAGS[a];
    if (flag) {
      (opts as Record<string, boolean>)[flag] = true;
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (name === '--learn' && eq > 0) {
      opts.learn = a.slice(eq + 1);
      continue;
    }
    const key = VALUED[name];
    if (!key || name === '-p' && eq > 0) return undefined;
    const value = eq > 0 ? a.slice(eq + 1) : args[++i];
    if (value === undefined || value === '') return undefined;
    (opts as Record<string, string>)[key] = value;
  }
  return undefined;
}
