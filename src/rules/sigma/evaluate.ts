// A direct evaluator of Sigma detections over a flat event (Image, CommandLine, TargetFilename,
// DestinationIp...), written from the specification independently of the CEL the converter
// writes: the tests hold every converted rule against it on events generated from the rule's
// own fields.
import { isIP } from 'node:net';
import {
  expandPattern,
  expandValues,
  hasWildcard,
  parseCondition,
  selectionOf,
  unescape,
  wildcardToRegex,
  type Cond,
  type FieldMatch,
  type SigmaRule,
} from './sigma.js';

export type FlatEvent = Record<string, string | number | boolean | undefined>;

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

function inCidr(ip: string, cidr: string): boolean {
  const [net, bitsS] = cidr.split('/');
  if (isIP(ip) !== 4 || isIP(net!) !== 4) return ip === net;
  const bits = Number(bitsS ?? 32);
  if (bits === 0) return true;
  const mask = bits === 32 ? 0xffffffff : ~((1 << (32 - bits)) - 1) >>> 0;
  return (ipv4ToInt(ip) & mask) >>> 0 === (ipv4ToInt(net!) & mask) >>> 0;
}

function valueMatches(m: FieldMatch, actual: string | number | boolean | undefined, v: string | number | boolean | null): boolean {
  const mods = m.modifiers;
  if (mods.includes('exists')) return (actual !== undefined && actual !== '') === (v === true || v === 'true');
  if (v === null) return actual === undefined || actual === '';
  if (actual === undefined) return false;
  if (mods.some((x) => ['gt', 'gte', 'lt', 'lte'].includes(x))) {
    const a = Number(actual);
    const b = Number(v);
    if (mods.includes('gt')) return a > b;
    if (mods.includes('gte')) return a >= b;
    if (mods.includes('lt')) return a < b;
    return a <= b;
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(actual).toLowerCase() === String(v).toLowerCase();
  const s = String(actual);
  if (mods.includes('cidr')) return inCidr(s, v);
  if (mods.includes('re')) {
    const inline = v.match(/^\(\?([ims]+)\)/);
    const flags = new Set([...(inline?.[1] ?? ''), ...mods.filter((x) => x === 'i' || x === 'm' || x === 's')]);
    return new RegExp(inline ? v.slice(inline[0].length) : v, [...flags].join('')).test(s);
  }
  const ci = !mods.includes('cased');
  const pre = mods.includes('contains') || mods.includes('endswith') ? '.*' : '';
  const post = mods.includes('contains') || mods.includes('startswith') ? '.*' : '';
  if (!hasWildcard(v)) {
    const lit = unescape(v);
    const a = ci ? s.toLowerCase() : s;
    const b = ci ? lit.toLowerCase() : lit;
    if (pre && post) return a.includes(b);
    if (post) return a.startsWith(b);
    if (pre) return a.endsWith(b);
    return a === b;
  }
  return new RegExp(`^${pre}${wildcardToRegex(v)}${post}$`, ci ? 'is' : 's').test(s);
}

function fieldMatch(m: FieldMatch, ev: FlatEvent): boolean {
  const vals = expandValues(m);
  const actual = ev[m.field];
  const test = (v: string | number | boolean | null) => valueMatches(m, actual, v);
  return m.modifiers.includes('all') ? vals.every(test) : vals.some(test);
}

/** Whether the rule's detection matches the event, by the specification. */
export function sigmaMatches(rule: SigmaRule, ev: FlatEvent): boolean {
  const names = Object.keys(rule.detection);
  const sel = new Map(names.map((n) => [n, selectionOf(n, rule.detection[n])]));
  const evalSel = (n: string) => sel.get(n)!.some((alt) => alt.every((m) => fieldMatch(m, ev)));
  const ev1 = (c: Cond): boolean => {
    switch (c.t) {
      case 'id':
        return evalSel(c.name);
      case 'not':
        return !ev1(c.a);
      case 'and':
        return ev1(c.a) && ev1(c.b);
      case 'or':
        return ev1(c.a) || ev1(c.b);
      case 'of': {
        const ns = expandPattern(c.pattern, names);
        return c.quant === 'all' ? ns.every(evalSel) : ns.some(evalSel);
      }
    }
  };
  return rule.condition.some((src) => ev1(parseCondition(src)));
}
