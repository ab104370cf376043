// Agent detection: decides from a process's argv/exe whether it is an AI coding agent.
// Built-in signatures follow DESIGN.md; custom ones come from the watch config. Runs at
// startup (/proc scan), at every exec and when a process renames itself (task_rename).

export interface AgentSignature {
  name: string;
  /** argv[0] (or exe) basename that identifies it. */
  binary: string;
  /** Optional regex tested against argv[1..] joined by spaces. */
  argsRegex?: RegExp;
}

export interface ProcessIdentity {
  argv: readonly string[];
  exe?: string;
  comm?: string;
}

/** argv[0] basenames of the built-in agents, with the name each session is reported under. */
const BUILTIN_BINARIES: Record<string, string> = {
  claude: 'claude',
  codex: 'codex',
  gemini: 'gemini',
  'cursor-agent': 'cursor-agent',
  aider: 'aider',
  'openclaw-gateway': 'openclaw',
};

/** Script paths of node/python CLIs: a path containing the marker belongs to that agent. */
const SCRIPT_MARKERS: Array<[RegExp, string]> = [
  [/(^|\/)@anthropic-ai\/claude-code(\/|$)/, 'claude'],
  [/(^|\/)@openai\/codex(\/|$)/, 'codex'],
  [/(^|\/)@google\/gemini-cli(\/|$)/, 'gemini'],
  [/(^|\/)cursor-agent(\/|$)/, 'cursor-agent'],
  [/(^|\/)(aider|aider-chat|aider_chat)(\/|$)/, 'aider'],
  [/(^|\/)openclaw(-gateway)?(\/|$)/, 'openclaw'],
];

const NODE_RE = /^(node|nodejs|bun|deno|node\d+)$/;
const PYTHON_RE = /^(python|pypy)(\d+(\.\d+)*)?$/;

export function basename(p: string): string {
  const i = p.lastIndexOf('/');
  return i >= 0 ? p.slice(i + 1) : p;
}

/** The script an interpreter runs: first non-option argument (python -m MOD gives MOD). */
export function interpreterScript(argv: readonly string[], python: boolean): string | undefined {
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (python && a === '-m') return argv[i + 1];
    if (python && a.startsWith('-m') && a.length > 2) return a.slice(2);
    if (a === '-c' || a === '-e' || a === '--eval' || a === '-p' || a === '--print') return undefined;
    if (a === '--') return argv[i + 1];
    if (a.startsWith('-')) {
      // options that take a separate value
      if (python ? /^-[WXQ]$/.test(a) : /^(-r|--require|--import|--loader|--experimental-loader|--inspect-port|--title)$/.test(a)) i++;
      continue;
    }
    return a;
  }
  return undefined;
}

/** Whether a command name is one of the built-in agents' (a launcher script named like one is held, not rejected). */
export function isBuiltinAgentName(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(BUILTIN_BINARIES, name);
}

/** Options of env(1) that take a separate value. */
const ENV_VALUED = new Set(['-u', '--unset', '-C', '--chdir', '-S', '--split-string', '-P']);

/**
 * The command a launcher runs: `env [-i] [-u N] [VAR=val]... CMD ARGS` (what a
 * `#!/usr/bin/env node` shebang becomes), `nohup`, `setsid`, `nice [-n N]`, `exec -a NAME`.
 * undefined when argv is not a launcher or names no command.
 */
export function launchedCommand(argv: readonly string[]): string[] | undefined {
  const a0 = basename(argv[0] ?? '');
  if (a0 === 'env') {
    for (let i = 1; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === '--') return argv.length > i + 1 ? argv.slice(i + 1) : undefined;
      if (a === '-S' || a === '--split-string') {
        // `#!/usr/bin/env -S node --flag`: the string is split into words
        const words = (argv[i + 1] ?? '').split(/\s+/).filter(Boolean);
        return [...words, ...argv.slice(i + 2)];
      }
      if (a.startsWith('-S') && a.length > 2) return [...a.slice(2).split(/\s+/).filter(Boolean), ...argv.slice(i + 1)];
      if (ENV_VALUED.has(a)) {
        i++;
        continue;
      }
      if (a.startsWith('-') || /^[A-Za-z_][A-Za-z0-9_]*=/.test(a)) continue;
      return argv.slice(i);
    }
    return undefined;
  }
  if (a0 === 'nohup' || a0 === 'setsid') return argv.length > 1 ? argv.slice(argv[1] === '-f' || argv[1] === '-w' ? 2 : 1) : undefined;
  if (a0 === 'nice') {
    let i = 1;
    if (argv[i] === '-n') i += 2;
    else if (/^-n?\d+$/.test(argv[i] ?? '')) i++;
    return argv.length > i ? argv.slice(i) : undefined;
  }
  return undefined;
}

export class AgentMatcher {
  constructor(private readonly custom: readonly AgentSignature[] = []) {}

  /** Returns the agent name if the process is an agent root (or a launcher running one), else undefined. */
  match(id: ProcessIdentity): string | undefined {
    const direct = this.matchOne(id);
    if (direct) return direct;
    // through launchers (env of a shebang line, nohup...): at most two levels
    let argv: readonly string[] | undefined = id.argv;
    for (let depth = 0; depth < 2; depth++) {
      argv = argv ? launchedCommand(argv) : undefined;
      if (!argv || argv.length === 0) return undefined;
      const name = this.matchOne({ argv });
      if (name) return name;
    }
    return undefined;
  }

  private matchOne(id: ProcessIdentity): string | undefined {
    const argv0 = id.argv[0] ?? id.comm ?? '';
    const names = new Set<string>([basename(argv0)]);
    if (id.exe) names.add(basename(id.exe));
    if (id.argv.length === 0 && id.comm) names.add(id.comm);

    for (const sig of this.custom) {
      if (!names.has(sig.binary)) continue;
      if (sig.argsRegex && !sig.argsRegex.test(id.argv.slice(1).join(' '))) continue;
      return sig.name;
    }
    // argv[0] first: a node process that titled itself "claude" is claude. exe is only
    // consulted for the builtin names when argv is empty (kernel threads, races).
    const a0 = basename(argv0);
    const direct = BUILTIN_BINARIES[a0];
    if (direct) return direct;

    const interp = NODE_RE.test(a0) || (id.exe !== undefined && NODE_RE.test(basename(id.exe)))
      ? 'node'
      : PYTHON_RE.test(a0) || (id.exe !== undefined && PYTHON_RE.test(basename(id.exe)))
        ? 'python'
        : undefined;
    if (!interp) return undefined;
    const script = interpreterScript(id.argv, interp === 'python');
    if (!script) return undefined;
    const viaBin = BUILTIN_BINARIES[basename(script)];
    if (viaBin) return viaBin;
    for (const [re, name] of SCRIPT_MARKERS) if (re.test(script)) return name;
    return undefined;
  }
}
