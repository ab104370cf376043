// Hand-written validation of events read from files (replay), equivalent to the zod schema in
// schema.ts for the required fields and stricter on the typed sub-objects rules read, but
// ~50x cheaper: replay validates hundreds of thousands of lines per second. A line that
// passes can be handed to the rule engine without risking type confusion in rules.
import { CATEGORIES, SEVERITIES } from './types.js';

const KIND_RE = /^[a-z0-9_]+(\.[a-z0-9_]+)+$/;
const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const SEV = new Set<string>(SEVERITIES);
const CAT = new Set<string>(CATEGORIES);

type Check = 's' | 'i' | 'n' | 'sl' | 'b';
type Shape = Record<string, Check>;

// required fields carry a `!` in REQUIRED below
const SHAPES: Record<string, Shape> = {
  agent: { name: 's', root_pid: 'i', session: 's', cwd: 's', home: 's' },
  proc: { pid: 'i', ppid: 'i', exe: 's', argv: 'sl', cwd: 's', uid: 'i', comm: 's' },
  file: { path: 's', op: 's', flags: 'sl', src: 's', target: 's', mode: 'i', xattr: 's', ret: 'i' },
  net: { proto: 's', family: 's', dst_ip: 's', dst_port: 'i', host: 's', path: 's', local_ip: 's', local_port: 'i', bytes: 'n' },
  dns: { query: 's', qtype: 's', server: 's', server_port: 'i', answers: 'sl', rcode: 's' },
  exit: { code: 'i', signal: 'i', duration_ms: 'n' },
  sandbox: { id: 's', name: 's' },
};

const REQUIRED: Record<string, string[]> = {
  agent: ['name', 'root_pid', 'session'],
  proc: ['pid', 'ppid', 'exe', 'argv', 'cwd', 'uid'],
  file: ['path', 'op'],
  net: ['proto'],
  dns: ['query', 'qtype'],
  exit: [],
  sandbox: [],
};

function ok(c: Check, v: unknown): boolean {
  switch (c) {
    case 's':
      return typeof v === 'string';
    case 'i':
      return typeof v === 'number' && Number.isInteger(v);
    case 'n':
      return typeof v === 'number' && Number.isFinite(v);
    case 'b':
      return typeof v === 'boolean';
    case 'sl': {
      if (!Array.isArray(v)) return false;
      for (let i = 0; i < v.length; i++) if (typeof v[i] !== 'string') return false;
      return true;
    }
  }
}

const CHECK_NAMES: Record<Check, string> = { s: 'a string', i: 'an integer', n: 'a number', b: 'a boolean', sl: 'a list of strings' };

function checkExpr(c: Check, v: string): string {
  switch (c) {
    case 's':
      return `typeof ${v} === 'string'`;
    case 'i':
      return `Number.isInteger(${v})`;
    case 'n':
      return `(typeof ${v} === 'number' && Number.isFinite(${v}))`;
    case 'b':
      return `typeof ${v} === 'boolean'`;
    case 'sl':
      return `strList(${v})`;
  }
}

function strList(v: unknown): boolean {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (typeof v[i] !== 'string') return false;
  return true;
}

/**
 * The sub-object checks are generated once as straight-line code from SHAPES/REQUIRED (a
 * loop over the tables costs more than parsing a small event).
 */
const checkSubObjects = ((): ((e: Record<string, unknown>) => string | undefined) => {
  let body = '';
  for (const root of Object.keys(SHAPES)) {
    body += `{ const o = e[${JSON.stringify(root)}]; if (o !== undefined) {\n`;
    body += `  if (o === null || typeof o !== 'object' || Array.isArray(o)) return ${JSON.stringify(`${root}: expected an object`)};\n`;
    for (const req of REQUIRED[root]!) body += `  if (o.${req} === undefined) return ${JSON.stringify(`${root}.${req}: required`)};\n`;
    for (const [k, c] of Object.entries(SHAPES[root]!)) {
      body += `  if (o.${k} !== undefined && !(${checkExpr(c, `o.${k}`)})) return ${JSON.stringify(`${root}.${k}: expected ${CHECK_NAMES[c]}`)};\n`;
    }
    body += '} }\n';
  }
  body += 'return undefined;';
  return new Function('strList', `return function checkSub(e) {\n${body}\n};`)(strList);
})();

/** Returns undefined when `o` is a valid WardenEvent, else what is wrong (path: problem). */
export function checkEvent(o: unknown): string | undefined {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return '(root): expected an object';
  const e = o as Record<string, unknown>;
  const ts = e['ts'];
  if (typeof ts !== 'string' || !TS_RE.test(ts)) return 'ts: expected an ISO-8601 date-time';
  const seq = e['seq'];
  if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0) return 'seq: expected a non-negative integer';
  const kind = e['kind'];
  if (typeof kind !== 'string' || !KIND_RE.test(kind)) return 'kind: expected a dotted kind like file.open';
  const sev = e['severity'];
  if (typeof sev !== 'string' || !SEV.has(sev)) return 'severity: expected info, warn or alert';
  if (e['rule'] !== undefined && typeof e['rule'] !== 'string') return 'rule: expected a string';
  if (e['category'] !== undefined && (typeof e['category'] !== 'string' || !CAT.has(e['category']))) return 'category: unknown tactic';
  if (e['mitre'] !== undefined && !ok('sl', e['mitre'])) return 'mitre: expected a list of strings';
  if (e['message'] !== undefined && typeof e['message'] !== 'string') return 'message: expected a string';
  if (e['also'] !== undefined && !ok('sl', e['also'])) return 'also: expected a list of strings';
  const data = e['data'];
  if (data !== undefined && (data === null || typeof data !== 'object' || Array.isArray(data))) return 'data: expected an object';
  return checkSubObjects(e);
}
