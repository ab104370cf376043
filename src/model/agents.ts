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

export class AgentMatcher {
  constructor(private readonly custom: readonly AgentSignature[] = []) {}

  /** Returns the agent name if the process is an agent root, else undefined. */
  match(id: ProcessIdentity): string | undefined {
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
