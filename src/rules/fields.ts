// The event fields a rule condition may use, with their types, so that a misspelt field is
// a load-time error (with file and line) instead of a rule that silently never matches.
// Mirrors WardenEvent (src/events/types.ts) plus a few derived ("virtual") fields that are
// computed from the event on demand: proc.name, proc.argv0, proc.args, proc.cmdline,
// proc.script, proc.tool, proc.inline, file.name, file.dir.
//
// A script run by its #! line is reported with the script as `exe` and the kernel's argv
// (interpreter, optional #! argument, script, arguments): `/root/.pyenv/shims/python3` run
// as `python3 -c x` arrives as exe=…/shims/python3, argv=[/usr/bin/env, bash, …/shims/python3,
// -c, x]. The program that runs is the interpreter, so proc.name is the interpreter's name
// (through env), proc.script is the script and proc.inline is unset: the shim is a bash
// script, not a python one-liner. proc.name stays the script's name (adduser, a perl script, is
// still adduser); proc.interpreter names the program that runs (bash).
import { interpreterScript } from '../model/agents.js';
import { absPath, basename, dirname } from './paths.js';

export type CelType =
  | { k: 'bool' }
  | { k: 'int' }
  | { k: 'double' }
  | { k: 'string' }
  | { k: 'null' }
  | { k: 'dyn' }
  | { k: 'list'; elem: CelType }
  | { k: 'map'; value: CelType }
  | { k: 'struct'; name: string; fields: Record<string, FieldDef> };

/**
 * How a field's value appears in the raw JSON line, for the replay prefilter:
 * string = a JSON string of the value; basename/dirname = derived from an absolute path;
 * joined = list elements joined by spaces; number = `"key":N`.
 */
export type LitKind = 'string' | 'basename' | 'dirname' | 'joined' | 'number' | 'strlist' | 'none';

export interface FieldDef {
  type: CelType;
  lit: LitKind;
  /** Computes a derived field from its parent object. */
  virtual?: (parent: Record<string, unknown>) => unknown;
  doc?: string;
}

export const T = {
  bool: { k: 'bool' } as CelType,
  int: { k: 'int' } as CelType,
  double: { k: 'double' } as CelType,
  string: { k: 'string' } as CelType,
  null: { k: 'null' } as CelType,
  dyn: { k: 'dyn' } as CelType,
  list: (elem: CelType): CelType => ({ k: 'list', elem }),
  map: (value: CelType): CelType => ({ k: 'map', value }),
};

const str = (doc?: string): FieldDef => ({ type: T.string, lit: 'string', doc });
const int = (doc?: string): FieldDef => ({ type: T.int, lit: 'number', doc });
const strList = (doc?: string): FieldDef => ({ type: T.list(T.string), lit: 'strlist', doc });

/** One-entry memo keyed on the parent object: virtual fields are asked for repeatedly per event. */
function memo(fn: (o: Record<string, unknown>) => unknown): (o: Record<string, unknown>) => unknown {
  let lastObj: unknown;
  let lastVal: unknown;
  return (o) => {
    if (o === lastObj) return lastVal;
    lastVal = fn(o);
    lastObj = o;
    return lastVal;
  };
}

function argvOf(o: Record<string, unknown>): string[] | undefined {
  const a = o['argv'];
  return Array.isArray(a) ? (a as string[]) : undefined;
}

/** For a script run through its #! line: the interpreter (env resolved) and the script. */
export function shebangOf(o: Record<string, unknown>): { interp: string; script: string; scriptArg: number } | undefined {
  const exe = o['exe'];
  const argv = argvOf(o);
  if (typeof exe !== 'string' || !argv || argv.length < 2 || !exe.startsWith('/')) return undefined;
  const at = argv[1] === exe ? 1 : argv[2] === exe ? 2 : -1;
  if (at < 0 || basename(argv[0] ?? '') === basename(exe)) return undefined;
  let interp = argv[0]!;
  // #!/usr/bin/env bash: env runs the program named by its argument
  if (basename(interp) === 'env' && at === 2 && argv[1] && !argv[1].startsWith('-')) interp = argv[1];
  return { interp, script: exe, scriptArg: at };
}

/** proc.interpreter: basename of exe, or of the interpreter of a #! script (env resolved). */
export function procName(o: Record<string, unknown>): string | undefined {
  const exe = o['exe'];
  if (typeof exe !== 'string') return undefined;
  const sb = shebangOf(o);
  return basename(sb ? sb.interp : exe);
}

const NODE_LIKE = /^(node|nodejs|bun|deno|node\d+)$/;
const PY_LIKE = /^(python|pypy)[0-9.]*$/;
const OTHER_INTERP = /^(perl|ruby|php|lua)[0-9.]*$/;

function toolOf(o: Record<string, unknown>): string | undefined {
  const exe = o['exe'];
  if (typeof exe !== 'string') return undefined;
  const sb = shebangOf(o);
  if (sb) return basename(sb.script);
  const name = basename(exe);
  const py = PY_LIKE.test(name);
  if (!py && !NODE_LIKE.test(name) && !OTHER_INTERP.test(name)) return name;
  const argv = argvOf(o);
  if (!argv) return name;
  const script = interpreterScript(argv, py);
  return script ? basename(script) : name;
}

const SHELL_LIKE = /^(sh|bash|dash|zsh|ksh|mksh|ash|fish|tcsh|csh|rbash|busybox)$/;
/** Options taking a value, per interpreter family (the value is not the script). */
const VALUE_OPTS: Array<[RegExp, RegExp, RegExp]> = [
  // [interpreter, options with a separate value, options meaning "no script file"]
  [PY_LIKE, /^-[WXQ]$/, /^-[cm]/],
  [NODE_LIKE, /^(-r|--require|--import|--loader|--experimental-loader|--inspect-port|--title|--env-file|-C|--conditions)$/, /^(-e|--eval|-p|--print|-i|--interactive)$/],
  [SHELL_LIKE, /^[-+]o$/, /^-[a-zA-Z]*[cs][a-zA-Z]*$/],
  [OTHER_INTERP, /^-[IMx]$/, /^-[a-zA-Z]*[erE][a-zA-Z]*$/],
];

function scriptOf(o: Record<string, unknown>): string | undefined {
  const exe = o['exe'];
  const argv = argvOf(o);
  if (typeof exe !== 'string' || !argv) return undefined;
  const sb = shebangOf(o);
  if (sb) return sb.script;
  const name = basename(exe);
  const family = VALUE_OPTS.find(([re]) => re.test(name));
  if (!family) return undefined;
  const [, valued, noScript] = family;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      const next = argv[i + 1];
      return next === undefined ? undefined : absPath(typeof o['cwd'] === 'string' ? (o['cwd'] as string) : '/', next);
    }
    if (noScript.test(a)) return undefined;
    if (a.startsWith('-') || a.startsWith('+')) {
      if (valued.test(a)) i++;
      continue;
    }
    return absPath(typeof o['cwd'] === 'string' ? (o['cwd'] as string) : '/', a);
  }
  return undefined;
}

/** Options that take inline code, per interpreter family. */
const INLINE_OPTS: Array<[RegExp, RegExp]> = [
  [SHELL_LIKE, /^-[a-zA-Z]*c[a-zA-Z]*$/],
  [PY_LIKE, /^-[a-zA-Z]*c$/],
  [NODE_LIKE, /^(-e|--eval|-p|--print)$/],
  [OTHER_INTERP, /^-[a-zA-Z]*[eE]$|^-r$/],
];

/** The code a shell or interpreter was given on its command line (sh -c CODE, python -c, node -e, perl -e). */
function inlineOf(o: Record<string, unknown>): string | undefined {
  const argv = argvOf(o);
  if (!argv || typeof o['exe'] !== 'string' || shebangOf(o)) return undefined;
  const name = basename(o['exe'] as string);
  const family = VALUE_OPTS.find(([re]) => re.test(name));
  const inline = INLINE_OPTS.find(([re]) => re.test(name));
  if (!family || !inline) return undefined;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return undefined;
    if (inline[1].test(a)) return argv[i + 1];
    if (a.startsWith('-') || a.startsWith('+')) {
      if (family[1].test(a)) i++;
      continue;
    }
    return undefined; // a script operand: later -c/-e are its arguments
  }
  return undefined;
}

export const STRUCTS: Record<string, CelType & { k: 'struct' }> = {
  agent: {
    k: 'struct',
    name: 'agent',
    fields: {
      name: str('agent name (claude, codex, ...)'),
      root_pid: int(),
      session: str('unique per agent root process start'),
      cwd: str("the agent root's working directory at its start: its project"),
      home: str("home of the agent's user"),
      env_home: str('HOME in the agent root environment, when it differs from home'),
      workspaces: strList('project directories: cwd at start, then the ones the agent itself cd-ed into'),
    },
  },
  proc: {
    k: 'struct',
    name: 'proc',
    fields: {
      pid: int(),
      ppid: int(),
      exe: str('absolute path of the executable'),
      argv: strList(),
      cwd: str(),
      uid: int(),
      comm: str('kernel task name (16 chars)'),
      tool_untrusted: str('why the program is not the tool its name says (agent-written, temporary directory)'),
      real_exe: str('the executable the kernel loaded, when exe names something else'),
      name: {
        type: T.string,
        lit: 'basename',
        virtual: memo((o) => (typeof o['exe'] === 'string' ? basename(o['exe'] as string) : undefined)),
        doc: 'basename of exe (for a script run by its #! line, the script)',
      },
      interpreter: {
        type: T.string,
        // the raw line holds NAME" (exe, or the interpreter's argv entry)
        lit: 'basename',
        virtual: memo(procName),
        doc: 'name of the program that runs: basename of exe, or of the interpreter of a script run by its #! line (env resolved)',
      },
      argv0: {
        type: T.string,
        lit: 'basename',
        virtual: memo((o) => {
          const a = argvOf(o);
          return a && typeof a[0] === 'string' ? basename(a[0]) : undefined;
        }),
        doc: 'basename of argv[0]',
      },
      args: {
        type: T.list(T.string),
        lit: 'strlist',
        virtual: memo((o) => argvOf(o)?.slice(1)),
        doc: 'argv without argv[0]',
      },
      cmdline: {
        type: T.string,
        lit: 'joined',
        virtual: memo((o) => argvOf(o)?.join(' ')),
        doc: 'argv joined by spaces',
      },
      inline: {
        type: T.string,
        lit: 'none',
        virtual: memo(inlineOf),
        doc: 'the code a shell or interpreter was given with -c / -e (unset for scripts)',
      },
      script: {
        type: T.string,
        lit: 'none',
        virtual: memo(scriptOf),
        doc: 'for shells and interpreters: the script file they run, as an absolute path (none for -c/-e/-m or stdin)',
      },
      tool: {
        type: T.string,
        lit: 'basename',
        virtual: memo(toolOf),
        doc: 'the program run: for node/python/perl/ruby/php the script or module (npm, pip, aws), else proc.name',
      },
    },
  },
  file: {
    k: 'struct',
    name: 'file',
    fields: {
      path: str('absolute, normalised'),
      op: str('read, write, create, truncate, rename, unlink, rmdir, symlink, link, chmod, chown, setxattr, mkdir, utimes, lookup'),
      flags: strList('read, write, create, truncate, append, directory'),
      src: str('rename/link source'),
      target: str('symlink target'),
      mode: int('chmod/create/mkdir mode bits'),
      xattr: str('setxattr attribute name'),
      ret: int('syscall result'),
      requested: str('the path as the process passed it, when not path'),
      identified_by: str('inode: path is a known secret or persistence file found by device and inode'),
      resolved: str('the kernel path, when path names the file by inode'),
      name: {
        type: T.string,
        lit: 'basename',
        virtual: memo((o) => (typeof o['path'] === 'string' ? basename(o['path'] as string) : undefined)),
        doc: 'basename of path',
      },
      dir: {
        type: T.string,
        lit: 'dirname',
        virtual: memo((o) => (typeof o['path'] === 'string' ? dirname(o['path'] as string) : undefined)),
        doc: 'directory of path',
      },
    },
  },
  net: {
    k: 'struct',
    name: 'net',
    fields: {
      proto: str('tcp, udp, unix, raw, other'),
      family: str('inet, inet6, unix, other'),
      dst_ip: str(),
      dst_port: int(),
      host: str('name this session resolved to dst_ip, when seen'),
      path: str('unix socket path (@name = abstract)'),
      local_ip: str(),
      local_port: int(),
      bytes: int(),
    },
  },
  dns: {
    k: 'struct',
    name: 'dns',
    fields: {
      query: str(),
      qtype: str(),
      server: str(),
      server_port: int(),
      answers: strList(),
      rcode: str(),
    },
  },
  exit: {
    k: 'struct',
    name: 'exit',
    fields: { code: int(), signal: int(), duration_ms: int() },
  },
  sandbox: {
    k: 'struct',
    name: 'sandbox',
    fields: { id: str(), name: str() },
  },
};

/** Top-level identifiers a condition may use. */
export const ROOTS: Record<string, FieldDef> = {
  kind: str('event kind'),
  ts: str('ISO-8601 time'),
  agent: { type: STRUCTS.agent!, lit: 'none' },
  proc: { type: STRUCTS.proc!, lit: 'none' },
  file: { type: STRUCTS.file!, lit: 'none' },
  net: { type: STRUCTS.net!, lit: 'none' },
  dns: { type: STRUCTS.dns!, lit: 'none' },
  exit: { type: STRUCTS.exit!, lit: 'none' },
  sandbox: { type: STRUCTS.sandbox!, lit: 'none' },
  data: { type: T.map(T.dyn), lit: 'none' },
};

/** Event kinds the sensor and model produce (docs/events.md). Rules may only name these. */
export const KNOWN_KINDS: readonly string[] = [
  'agent.start',
  'agent.exit',
  'process.exec',
  'process.fork',
  'process.exit',
  'process.rename',
  'process.ptrace',
  'process.memfd',
  'process.io_uring',
  'process.bpf',
  'process.syscall',
  'process.setid',
  'process.setns',
  'process.unshare',
  'process.userfaultfd',
  'process.clock',
  'process.handoff',
  'process.handoff_start',
  'file.open',
  'file.repeat',
  'file.rename',
  'file.unlink',
  'file.symlink',
  'file.link',
  'file.truncate',
  'file.chmod',
  'file.chown',
  'file.setxattr',
  'file.mkdir',
  'file.utimes',
  'file.lookup',
  'net.connect',
  'net.socket',
  'net.send',
  'net.dns',
  'net.dns_answer',
  'net.bind',
  'net.listen',
  'monitor.ready',
  'monitor.degraded',
  'monitor.loss',
  'monitor.sensor_restart',
  'monitor.parse_error',
  'monitor.stop',
  'monitor.sensor_died',
  'monitor.killed',
  'monitor.signal',
  'monitor.gap',
  'monitor.state_removed',
  'monitor.sink_error',
  'monitor.sink_recovered',
  'monitor.sink_drop',
  'monitor.rules_reloaded',
  'monitor.rules_reload_failed',
  'api.refused',
  'alert.ack',
  'egress.allow',
  'egress.deny',
  'egress.suppressed',
  'sandbox.start',
  'sandbox.exit',
  'sandbox.deny',
  'resource.session',
  'resource.warn',
  'resource.throttle',
  'resource.kill',
  'resource.oom',
  'resource.leak',
  'resource.cpu',
  'action.kill',
  'action.freeze',
  'action.resume',
  'action.limit',
  'action.deny',
  'action.failed',
  'monitor.protect',
  'monitor.protect_timeout',
  'monitor.protect_failed',
  'monitor.protect_gap',
];

/** Kinds the rule engine itself emits; rules never apply to them. */
export const DERIVED_KINDS: readonly string[] = ['alert.sequence', 'alert.threshold', 'rule.error'];

export function typeName(t: CelType): string {
  switch (t.k) {
    case 'list':
      return `list(${typeName(t.elem)})`;
    case 'map':
      return `map(${typeName(t.value)})`;
    case 'struct':
      return t.name;
    default:
      return t.k;
  }
}
