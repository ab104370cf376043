// Sigma → Warden: one Sigma rule becomes one Warden rule definition (kinds, a CEL condition,
// severity from level, category and techniques from tags, provenance kept for the Detection
// Rule License), or a reason why it cannot: a logsource Warden has no events for, a field the
// events do not carry, a modifier or condition outside what a single event can answer.
import { CATEGORIES, type Category } from '../../events/types.js';
import {
  expandPattern,
  expandValues,
  hasWildcard,
  KNOWN_MODIFIERS,
  parseCondition,
  selectionOf,
  SigmaError,
  unescape,
  wildcardToRegex,
  type Cond,
  type FieldMatch,
  type SigmaRule,
} from './sigma.js';

interface FieldSpec {
  /** Warden field (CEL). */
  cel: string;
  type: 'string' | 'int';
}

interface LogsourceSpec {
  kinds: string[];
  /** Condition every event of the logsource meets (file_event: the file was written). */
  base?: string;
  fields: Record<string, FieldSpec>;
  /** Sigma fields with a fixed answer in Warden's events. */
  special?: Record<string, (m: FieldMatch) => string>;
}

const PROC_FIELDS: Record<string, FieldSpec> = {
  Image: { cel: 'proc.exe', type: 'string' },
  CommandLine: { cel: 'proc.cmdline', type: 'string' },
  CurrentDirectory: { cel: 'proc.cwd', type: 'string' },
  ProcessId: { cel: 'proc.pid', type: 'int' },
};

/** User: Warden events carry the uid; `root` is uid 0, other names are not known to the rules. */
function userMatch(m: FieldMatch): string {
  if (m.modifiers.length || !m.values.every((v) => typeof v === 'string' && v.toLowerCase() === 'root')) {
    throw new SigmaError('User other than "root": events carry the uid, not the user name');
  }
  return 'proc.uid == 0';
}

export const LOGSOURCES: Record<string, LogsourceSpec> = {
  process_creation: { kinds: ['process.exec'], fields: PROC_FIELDS, special: { User: userMatch } },
  file_event: {
    kinds: ['file.open', 'file.rename', 'file.link', 'file.symlink', 'file.truncate'],
    base: 'file_modified',
    fields: { TargetFilename: { cel: 'file.path', type: 'string' }, ...PROC_FIELDS },
    special: { User: userMatch },
  },
  network_connection: {
    kinds: ['net.connect'],
    // Sigma's network connections are IP connections (unix sockets are not)
    base: 'net.proto in ["tcp", "udp"]',
    fields: {
      DestinationIp: { cel: 'net.dst_ip', type: 'string' },
      DestinationPort: { cel: 'net.dst_port', type: 'int' },
      DestinationHostname: { cel: 'net.host', type: 'string' },
      Protocol: { cel: 'net.proto', type: 'string' },
      ...PROC_FIELDS,
    },
    special: {
      User: userMatch,
      // every connect Warden sees was initiated by the watched process
      Initiated: (m) => {
        if (m.values.every((v) => String(v).toLowerCase() === 'true')) return 'true';
        throw new SigmaError('Initiated: false (inbound connections) is not an event Warden reports');
      },
    },
  },
};

const NOT_CARRIED: Record<string, string> = {
  ParentImage: "the parent's image is not on the event (events carry proc.ppid only)",
  ParentCommandLine: "the parent's command line is not on the event (events carry proc.ppid only)",
  ParentUser: "the parent's user is not on the event",
  ParentProcessId: "the parent's pid is proc.ppid, but Sigma parent matches need the parent's image",
  LogonId: 'no logon sessions in Warden events',
  OriginalFileName: 'no PE metadata on Linux',
  SourceIp: 'the local address of a connect is not on the event',
  SourcePort: 'the local port of a connect is not on the event',
};

export const TACTICS: Record<string, Category> = {
  execution: 'execution',
  persistence: 'persistence',
  'privilege-escalation': 'privilege_escalation',
  privilege_escalation: 'privilege_escalation',
  'defense-evasion': 'defense_evasion',
  defense_evasion: 'defense_evasion',
  stealth: 'defense_evasion',
  'defense-impairment': 'defense_evasion',
  'credential-access': 'credential_access',
  credential_access: 'credential_access',
  discovery: 'discovery',
  'lateral-movement': 'lateral_movement',
  lateral_movement: 'lateral_movement',
  collection: 'collection',
  'command-and-control': 'command_and_control',
  command_and_control: 'command_and_control',
  exfiltration: 'exfiltration',
  impact: 'impact',
  'initial-access': 'initial_access',
  initial_access: 'initial_access',
};

export const LEVELS: Record<string, 'info' | 'warn' | 'alert'> = {
  informational: 'info',
  low: 'info',
  medium: 'warn',
  high: 'alert',
  critical: 'alert',
};

export interface WardenRuleDef {
  id: string;
  description: string;
  kinds: string[];
  condition: string;
  severity: 'info' | 'warn' | 'alert';
  category?: Category;
  mitre: string[];
  output: string;
  tags: string[];
  enabled?: boolean;
  origin: {
    format: 'sigma';
    id?: string;
    title: string;
    author?: string;
    references: string[];
    date?: string;
    modified?: string;
    status?: string;
    level?: string;
    falsepositives: string[];
    license: string;
    file: string;
  };
}

export type Conversion = { ok: true; rule: WardenRuleDef; logsource: string; note?: string } | { ok: false; reason: string; logsource: string };

export function logsourceName(r: SigmaRule): string {
  const ls = r.logsource;
  return ls.category ?? (ls.service ? `service:${ls.service}` : `product:${ls.product ?? '?'}`);
}

const lit = (s: string) => JSON.stringify(s);

/** A Sigma wildcard/regex pattern as a CEL matches() regex (whole string, dot matches newlines). */
function anchored(body: string, ci: boolean): string {
  return `${ci ? '(?i)' : ''}^${body.replace(/\.\*/g, '[\\s\\S]*')}$`;
}

function matchCel(m: FieldMatch, f: FieldSpec): string {
  const mods = m.modifiers;
  for (const x of mods) {
    if (!KNOWN_MODIFIERS.has(x)) throw new SigmaError(`modifier |${x} is not supported (${x === 'expand' ? 'placeholders need site data' : x === 'fieldref' ? 'field-to-field comparison' : 'outside the subset Warden converts'})`);
  }
  const vals = expandValues(m);
  const ci = !mods.includes('cased');
  const one = (v: string | number | boolean | null): string => {
    if (mods.includes('exists')) return v === true || v === 'true' ? `has(${f.cel})` : `!has(${f.cel})`;
    if (v === null) return f.type === 'int' ? `!has(${f.cel})` : `(!has(${f.cel}) || ${f.cel} == "")`;
    const cmp = mods.find((x) => ['gt', 'gte', 'lt', 'lte'].includes(x));
    if (cmp) {
      const n = Number(v);
      if (!Number.isFinite(n)) throw new SigmaError(`|${cmp} with a value that is not a number`);
      const op = { gt: '>', gte: '>=', lt: '<', lte: '<=' }[cmp]!;
      return f.type === 'int' ? `${f.cel} ${op} ${Math.trunc(n)}` : `int(${f.cel}) ${op} ${Math.trunc(n)}`;
    }
    if (f.type === 'int') {
      const n = Number(v);
      if (!Number.isInteger(n)) throw new SigmaError(`${m.field} is a number in Warden events, got ${JSON.stringify(v)}`);
      if (mods.some((x) => ['contains', 'startswith', 'endswith', 're', 'cidr'].includes(x))) throw new SigmaError(`${m.field}: string modifiers on a number field`);
      return `${f.cel} == ${n}`;
    }
    const s = String(v);
    if (mods.includes('cidr')) return `ipIn(${f.cel}, [${lit(s)}])`;
    if (mods.includes('re')) {
      // a leading inline group (?i) is PCRE; JavaScript takes it as a flag
      const inline = s.match(/^\(\?([ims]+)\)/);
      const src = inline ? s.slice(inline[0].length) : s;
      const set = new Set([...(inline?.[1] ?? ''), ...mods.filter((x) => x === 'i' || x === 'm' || x === 's')]);
      const flags = [...set].sort().join('');
      try {
        new RegExp(src, flags);
      } catch (err) {
        throw new SigmaError(`regular expression ${lit(s)}: ${(err as Error).message}`);
      }
      const prefix = flags ? '(?' + flags + ')' : '';
      return f.cel + '.matches(' + lit(prefix + src) + ')';
    }
    const pre = mods.includes('contains') || mods.includes('endswith');
    const post = mods.includes('contains') || mods.includes('startswith');
    if (!hasWildcard(s)) {
      const val = ci ? unescape(s).toLowerCase() : unescape(s);
      const field = ci ? `${f.cel}.lowerAscii()` : f.cel;
      if (pre && post) return `${field}.contains(${lit(val)})`;
      if (post) return `${field}.startsWith(${lit(val)})`;
      if (pre) return `${field}.endsWith(${lit(val)})`;
      return `${field} == ${lit(val)}`;
    }
    return `${f.cel}.matches(${lit(anchored(`${pre ? '.*' : ''}${wildcardToRegex(s)}${post ? '.*' : ''}`, ci))})`;
  };
  const parts = vals.map(one);
  if (parts.length === 1) return parts[0]!;
  return `(${parts.join(mods.includes('all') ? ' && ' : ' || ')})`;
}

function selectionCel(name: string, def: unknown, spec: LogsourceSpec): string {
  const alts = selectionOf(name, def).map((alt) => {
    if (!alt.length) throw new SigmaError(`selection ${name} is empty`);
    return alt
      .map((m) => {
        const special = spec.special?.[m.field];
        if (special) return special(m);
        const f = spec.fields[m.field];
        if (!f) throw new SigmaError(`field ${m.field}: ${NOT_CARRIED[m.field] ?? 'not a field of the Warden events for this logsource'}`);
        return matchCel(m, f);
      })
      .map((c) => (alt.length > 1 ? `(${c})` : c))
      .join(' && ');
  });
  return alts.length === 1 ? alts[0]! : alts.map((a) => `(${a})`).join(' || ');
}

function condCel(c: Cond, sel: Map<string, string>, names: string[]): string {
  switch (c.t) {
    case 'id': {
      const s = sel.get(c.name);
      if (s === undefined) throw new SigmaError(`condition names ${c.name}, which the detection does not define`);
      return `(${s})`;
    }
    case 'not':
      return `!${condCel(c.a, sel, names)}`;
    case 'and':
    case 'or':
      return `(${condCel(c.a, sel, names)} ${c.t === 'and' ? '&&' : '||'} ${condCel(c.b, sel, names)})`;
    case 'of': {
      const ns = expandPattern(c.pattern, names);
      if (!ns.length) throw new SigmaError(`"${c.quant === 'all' ? 'all' : '1'} of ${c.pattern}" matches no selection`);
      return `(${ns.map((n) => `(${sel.get(n)})`).join(c.quant === 'all' ? ' && ' : ' || ')})`;
    }
  }
}

/** The Warden rule id of a Sigma rule: sigma_ and its file name. */
export function wardenId(r: SigmaRule): string {
  const stem = r.file.replace(/^.*\//, '').replace(/\.ya?ml$/i, '');
  return `sigma_${stem.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

export function convertSigma(r: SigmaRule): Conversion {
  const logsource = logsourceName(r);
  try {
    const spec = r.logsource.category ? LOGSOURCES[r.logsource.category] : undefined;
    if (r.logsource.product && r.logsource.product !== 'linux') throw new SigmaError(`product ${r.logsource.product}: Warden watches Linux`);
    if (!spec) {
      const why = r.logsource.service
        ? `service ${r.logsource.service}: log records of that service, not process, file or network events`
        : r.logsource.category
          ? `category ${r.logsource.category}: no Warden events for it (converted: process_creation, file_event, network_connection)`
          : 'product linux without a category: keyword search over system log lines, not events';
      throw new SigmaError(`logsource ${why}`);
    }
    const names = Object.keys(r.detection);
    const sel = new Map<string, string>();
    for (const n of names) sel.set(n, selectionCel(n, r.detection[n], spec));
    const conds = r.condition.map((src) => condCel(parseCondition(src), sel, names));
    let condition = conds.length === 1 ? conds[0]! : conds.map((c) => `(${c})`).join(' || ');
    if (spec.base) condition = `${spec.base} && ${condition}`;
    let severity = LEVELS[(r.level ?? 'medium').toLowerCase()] ?? 'warn';
    const tactics = r.tags.filter((t) => t.startsWith('attack.')).map((t) => TACTICS[t.slice(7)]).filter((c): c is Category => !!c && (CATEGORIES as readonly string[]).includes(c));
    const mitre = [...new Set(r.tags.map((t) => t.match(/^attack\.(t\d{4}(\.\d{3})?)$/i)?.[1]?.toUpperCase()).filter((t): t is string => !!t))];
    // Warden's warnings and alerts carry a tactic and techniques; without the tags the rule
    // still converts, as info (visible in the events, never a warning)
    let note: string | undefined;
    if (severity !== 'info' && (!tactics.length || !mitre.length)) {
      note = `level ${r.level} lowered to info: no ATT&CK ${!tactics.length ? 'tactic (Warden category)' : 'technique'} tag`;
      severity = 'info';
    }
    const what = spec.kinds[0] === 'process.exec' ? '%proc.cmdline' : spec.kinds[0] === 'net.connect' ? '%proc.exe -> %net.host %net.dst_ip:%net.dst_port' : '%file.path by %proc.exe';
    const rule: WardenRuleDef = {
      id: wardenId(r),
      description: `${r.title}${r.description ? `: ${r.description.replace(/\s+/g, ' ')}` : ''} (Sigma ${r.id ?? ''}, ${r.author ?? 'unknown author'}; DRL 1.1)`,
      kinds: spec.kinds,
      condition,
      severity,
      ...(tactics.length ? { category: tactics[0] } : {}),
      mitre,
      output: `${r.title.replace(/%/g, '%%')}: ${what}`,
      tags: ['sigma', ...(r.status ? [`sigma-status:${r.status}`] : []), ...(note ? ['sigma-no-attack-tags'] : [])],
      origin: {
        format: 'sigma',
        ...(r.id ? { id: r.id } : {}),
        title: r.title,
        ...(r.author ? { author: r.author } : {}),
        references: r.references,
        ...(r.date ? { date: r.date } : {}),
        ...(r.modified ? { modified: r.modified } : {}),
        ...(r.status ? { status: r.status } : {}),
        ...(r.level ? { level: r.level } : {}),
        falsepositives: r.falsepositives,
        license: 'DRL-1.1',
        file: r.file,
      },
    };
    return { ok: true, rule, logsource, ...(note ? { note } : {}) };
  } catch (err) {
    if (err instanceof SigmaError) return { ok: false, reason: err.message, logsource };
    throw err;
  }
}
