// Events generated from a Sigma rule's own fields, to check a converted rule: positives (the
// detection matches them, by the reference evaluator) and negatives (near misses: a positive
// with one field changed, and a neutral event). Each is produced as the flat Sigma event and as
// the Warden event the sensor would report for the same activity.
import type { UnstampedEvent } from '../../events/types.js';
import { sigmaMatches, type FlatEvent } from './evaluate.js';
import { expandValues, selectionOf, type FieldMatch, type SigmaRule } from './sigma.js';

/** Values of an event in which nothing of interest happens. */
export const NEUTRAL: FlatEvent = {
  Image: '/usr/bin/true',
  CommandLine: 'true',
  CurrentDirectory: '/home/dev/project',
  User: 'dev',
  TargetFilename: '/home/dev/project/notes.txt',
  DestinationIp: '127.0.0.2',
  DestinationPort: 1,
  DestinationHostname: 'example.invalid',
  Initiated: 'true',
  Protocol: 'tcp',
};

function firstIpOf(cidr: string): string {
  const [net] = cidr.split('/');
  if (!net || !/^\d+\.\d+\.\d+\.\d+$/.test(net)) return net ?? '';
  const o = net.split('.').map(Number);
  o[3] = Math.min(254, (o[3] ?? 0) + 1);
  return o.join('.');
}

/** A string a regular expression accepts, for simple ones (literals, classes, optional parts). */
function sampleRegex(src: string): string {
  let s = src.replace(/^\(\?[ims]+\)/, '').replace(/^\^|\$$/g, '');
  s = s.replace(/\\s\+?|\\s\*/g, ' ').replace(/\\d\+?|\\d\*|\[0-9\][+*]?(\{\d+(,\d*)?\})?/g, '1');
  s = s.replace(/\[([^\]])[^\]]*\][+*?]?(\{\d+(,\d*)?\})?/g, '$1').replace(/\.\*|\.\+/g, 'x').replace(/\((\?:)?([^|()]*)(\|[^()]*)?\)[?*]?/g, '$2');
  s = s.replace(/\\(.)/g, '$1').replace(/[?*+]/g, '');
  return s;
}

/** What a field must look like for one match: its exact value, or a start, an end and middle parts. */
interface Shape {
  exact?: string | number | boolean;
  absent?: boolean;
  start?: string;
  end?: string;
  middle: string[];
}

function literal(v: string): string {
  return v.replace(/(^|[^\\])\*/g, '$1x').replace(/(^|[^\\])\?/g, '$1y').replace(/\\([*?\\])/g, '$1');
}

function addTo(shape: Shape, m: FieldMatch): void {
  const mods = m.modifiers;
  const vals = expandValues(m);
  const one = (v: string | number | boolean | null) => {
    if (mods.includes('exists')) {
      if (v === true || v === 'true') shape.middle.push('present');
      else shape.absent = true;
      return;
    }
    if (v === null) return void (shape.absent = true);
    if (typeof v !== 'string') {
      shape.exact = mods.some((x) => x === 'gt' || x === 'gte') ? Number(v) + 1 : mods.some((x) => x === 'lt' || x === 'lte') ? Number(v) - 1 : v;
      return;
    }
    if (mods.includes('cidr')) return void (shape.exact = firstIpOf(v));
    if (mods.includes('re')) return void shape.middle.push(sampleRegex(v));
    const lit = literal(v);
    if (mods.includes('contains')) shape.middle.push(lit);
    else if (mods.includes('startswith')) shape.start = lit;
    else if (mods.includes('endswith')) shape.end = lit;
    else shape.exact = lit;
  };
  if (mods.includes('all')) vals.forEach(one);
  else one(vals[0] ?? null);
}

function render(shape: Shape): string | number | boolean | undefined {
  if (shape.absent) return undefined;
  if (shape.exact !== undefined) return shape.exact;
  const mid = shape.middle.join(' ');
  if (shape.start !== undefined || shape.end !== undefined) return `${shape.start ?? ''}${mid ? ` ${mid} ` : ''}${shape.end ?? ''}`;
  return mid;
}

/** Flat events that match the rule (by the reference evaluator), up to a few. */
export function positives(rule: SigmaRule, max = 3): FlatEvent[] {
  const names = Object.keys(rule.detection);
  const alts = names.map((n) => selectionOf(n, rule.detection[n]));
  const out: FlatEvent[] = [];
  // every combination of (selection chosen or not) x (its first alternatives), smallest first
  const n = Math.min(names.length, 10);
  const masks = [...Array(1 << n).keys()].sort((a, b) => popcount(a) - popcount(b));
  for (const mask of masks) {
    for (let alt = 0; alt < 3; alt++) {
      const ev: FlatEvent = { ...NEUTRAL };
      const shapes = new Map<string, Shape>();
      for (let i = 0; i < n; i++) {
        if (!(mask & (1 << i))) continue;
        const a = alts[i]![Math.min(alt, alts[i]!.length - 1)]!;
        for (const m of a) {
          const sh = shapes.get(m.field) ?? { middle: [] };
          addTo(sh, m);
          shapes.set(m.field, sh);
        }
      }
      for (const [f, sh] of shapes) {
        const v = render(sh);
        if (v === undefined) delete ev[f];
        else ev[f] = v;
      }
      if (sigmaMatches(rule, ev) && !out.some((x) => JSON.stringify(x) === JSON.stringify(ev))) out.push(ev);
      if (out.length >= max) return out;
    }
  }
  return out;
}

function popcount(x: number): number {
  let c = 0;
  for (; x; x &= x - 1) c++;
  return c;
}

/** Flat events that do not match: each positive with one field set back to neutral, and the neutral event. */
export function negatives(rule: SigmaRule, pos: FlatEvent[]): FlatEvent[] {
  const out: FlatEvent[] = [];
  const cands: FlatEvent[] = [{ ...NEUTRAL }];
  for (const p of pos) {
    for (const k of Object.keys(p)) {
      if (p[k] === NEUTRAL[k]) continue;
      cands.push({ ...p, [k]: NEUTRAL[k] });
    }
  }
  for (const c of cands) if (!sigmaMatches(rule, c) && !out.some((x) => JSON.stringify(x) === JSON.stringify(c))) out.push(c);
  return out;
}

/** The Warden event the sensor reports for the activity a flat Sigma event describes. */
export function wardenEvent(rule: SigmaRule, ev: FlatEvent): UnstampedEvent {
  const proc = {
    pid: 4242,
    ppid: 4000,
    exe: String(ev['Image'] ?? '/usr/bin/true'),
    argv: [String(ev['CommandLine'] ?? 'true')],
    cwd: String(ev['CurrentDirectory'] ?? '/home/dev/project'),
    uid: String(ev['User'] ?? '').toLowerCase() === 'root' ? 0 : 1000,
  };
  const agent = { name: 'claude', root_pid: 4000, session: 'claude-4000-sigma', cwd: '/home/dev/project', home: '/home/dev' };
  const base = { ts: '2026-01-01T10:00:00.000Z', severity: 'info' as const, agent, proc };
  switch (rule.logsource.category) {
    case 'file_event':
      return { ...base, kind: 'file.open', file: { path: String(ev['TargetFilename'] ?? ''), op: 'create', flags: ['write', 'create'] } } as UnstampedEvent;
    case 'network_connection':
      return {
        ...base,
        kind: 'net.connect',
        net: {
          proto: String(ev['Protocol'] ?? 'tcp'),
          family: 'inet',
          dst_ip: String(ev['DestinationIp'] ?? ''),
          dst_port: Number(ev['DestinationPort'] ?? 0),
          ...(ev['DestinationHostname'] !== undefined ? { host: String(ev['DestinationHostname']) } : {}),
        },
      } as UnstampedEvent;
    default:
      return { ...base, kind: 'process.exec' } as UnstampedEvent;
  }
}
