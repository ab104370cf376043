// Path-pattern and network-destination matchers used by rule conditions (`under`, `glob`,
// `destIn`, `nameIn`). Patterns are compiled once at load into bucketed literal checks plus
// a few regexes, because they run against most file events.
//
// Pattern syntax (shared with src/config/defaults.ts):
//   /abs/path        absolute
//   ~/rel            the agent's home (agent.home), and always /root/ and /home/*/ too
//   **/rel           at any depth
//   rel              relative to the agent's project directory (agent.cwd)
//   `*` matches within one path component, `?` one character, `**` any number of components.

import { literalCost, litSet, litUnion, type LitExpr } from './literals.js';

export type PathMode = 'under' | 'glob';

/** What a matcher needs from the event besides the path. */
export interface PathContext {
  home?: string | undefined;
  cwd?: string | undefined;
}

interface Bucketed {
  /** first path component → literal patterns starting with it (no wildcard). */
  lit: Map<string, string[]>;
  /** regexes tested when no literal matched (wildcard patterns), bucketed like lit ('' = any). */
  re: Map<string, RegExp[]>;
}

function emptyBucket(): Bucketed {
  return { lit: new Map(), re: new Map() };
}

const RE_SPECIAL = /[.+^${}()|[\]\\]/g;

/** Converts a wildcard pattern to a regex body (no anchors). */
function globBody(p: string): string {
  let out = '';
  const parts = p.split('/');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const last = i === parts.length - 1;
    if (part === '**') {
      // `**/` = zero or more components; a trailing `/**` = everything below
      out += last ? '.*' : '(?:[^/]*/)*';
      continue;
    }
    out += part.replace(RE_SPECIAL, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
    if (!last) out += '/';
  }
  return out;
}

function hasWild(p: string): boolean {
  return p.includes('*') || p.includes('?');
}

function firstComponent(p: string, from: number): string {
  // p[from] is the first char of a component
  const j = p.indexOf('/', from);
  return j < 0 ? p.slice(from) : p.slice(from, j);
}

function addTo(b: Bucketed, pattern: string, mode: PathMode, anchoredAbs: boolean): void {
  // pattern is either absolute ('/x/y') or relative ('x/y'); relative ones are matched
  // against a remainder that has no leading slash.
  const start = anchoredAbs ? 1 : 0;
  const first = firstComponent(pattern, start);
  if (!hasWild(pattern)) {
    const arr = b.lit.get(first) ?? [];
    arr.push(pattern);
    b.lit.set(first, arr);
    return;
  }
  const key = hasWild(first) ? '' : first;
  const re = new RegExp('^' + globBody(pattern) + (mode === 'under' ? '(?:/.*)?$' : '$'));
  const arr = b.re.get(key) ?? [];
  arr.push(re);
  b.re.set(key, arr);
}

/** Tests s[off..] (a relative remainder, or an absolute path when off === 0) against a bucket. */
function testBucket(b: Bucketed, s: string, off: number, mode: PathMode, abs: boolean): boolean {
  const from = abs ? off + 1 : off;
  const j = s.indexOf('/', from);
  const first = j < 0 ? s.slice(from) : s.slice(from, j);
  const lits = b.lit.get(first);
  const len = s.length - off;
  if (lits) {
    for (const p of lits) {
      if (len === p.length ? s.startsWith(p, off) : mode === 'under' && len > p.length && s.charCodeAt(off + p.length) === 47 && s.startsWith(p, off)) return true;
    }
  }
  const res = b.re.get(first);
  const any = b.re.get('');
  if (res || any) {
    const rest = off === 0 ? s : s.slice(off);
    if (res) for (const r of res) if (r.test(rest)) return true;
    if (any) for (const r of any) if (r.test(rest)) return true;
  }
  return false;
}

function bucketEmpty(b: Bucketed): boolean {
  return b.lit.size === 0 && b.re.size === 0;
}

/** Lexically normalises an absolute path (`.`, `..`, duplicate slashes). */
export function normalizePath(p: string): string {
  if (p.indexOf('/.') < 0 && p.indexOf('//') < 0 && (p.length < 2 || p.charCodeAt(p.length - 1) !== 47)) return p;
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return '/' + out.join('/');
}

/** Resolves p against base (both strings); absolute p is only normalised. */
export function absPath(base: string, p: string): string {
  if (p.startsWith('/')) return normalizePath(p);
  return normalizePath((base.endsWith('/') ? base : base + '/') + p);
}

export function basename(p: string): string {
  const i = p.lastIndexOf('/');
  return i >= 0 ? p.slice(i + 1) : p;
}

export function dirname(p: string): string {
  const i = p.lastIndexOf('/');
  if (i < 0) return '.';
  if (i === 0) return '/';
  return p.slice(0, i);
}

/**
 * A compiled set of path patterns. `test()` results are cached for the current event
 * (the engine bumps `PathMatcher.generation` per event), since several rules usually ask
 * about the same path and list.
 */
export class PathMatcher {
  static generation = 0;
  private readonly abs = emptyBucket();
  private readonly home = emptyBucket();
  private readonly rel = emptyBucket();
  private readonly anyDepth: RegExp | undefined;
  private memoGen = -1;
  private memoPath = '';
  private memoResult = false;
  readonly patterns: readonly string[];

  constructor(
    patterns: readonly string[],
    readonly mode: PathMode,
  ) {
    this.patterns = patterns;
    const deep: string[] = [];
    for (const raw of patterns) {
      const p = raw.length > 1 && raw.endsWith('/') ? raw.slice(0, -1) : raw;
      if (p === '~') {
        this.homeAll = true;
      } else if (p.startsWith('~/')) {
        addTo(this.home, p.slice(2), mode, false);
      } else if (p.startsWith('**/')) {
        deep.push('(?:^|/)' + globBody(p.slice(3)) + (mode === 'under' ? '(?:/|$)' : '$'));
      } else if (p.startsWith('/')) {
        addTo(this.abs, normalizePath(p), mode, true);
      } else if (p.length > 0) {
        addTo(this.rel, p.startsWith('./') ? p.slice(2) : p, mode, false);
      }
    }
    this.anyDepth = deep.length ? new RegExp(deep.join('|')) : undefined;
    this.hasAbs = !bucketEmpty(this.abs);
    this.hasHome = !bucketEmpty(this.home) || this.homeAll;
    this.hasRel = !bucketEmpty(this.rel);
  }

  /** The pattern `~` itself: the whole home directory. */
  private homeAll = false;
  private readonly hasAbs: boolean;
  private readonly hasHome: boolean;
  private readonly hasRel: boolean;

  /** Set when this matcher is part of a PathIndex (every matcher of a rule set at once). */
  index: PathIndex | undefined;
  id = -1;

  test(path: string, ctx: PathContext): boolean {
    if (this.index !== undefined) return this.index.test(this.id, path, ctx);
    if (this.memoGen === PathMatcher.generation && this.memoPath === path) return this.memoResult;
    const r = this.compute(path, ctx);
    this.memoGen = PathMatcher.generation;
    this.memoPath = path;
    this.memoResult = r;
    return r;
  }

  private compute(path: string, ctx: PathContext): boolean {
    if (path.length === 0 || path.charCodeAt(0) !== 47) return false;
    if (this.hasAbs && testBucket(this.abs, path, 0, this.mode, true)) return true;
    if (this.anyDepth !== undefined && this.anyDepth.test(path)) return true;
    if (this.hasHome) {
      let hStart = -1;
      const h = ctx.home;
      if (this.homeAll && ((h && h !== '/' && (path === h || path.startsWith(h + '/'))) || path === '/root' || path.startsWith('/root/') || /^\/home\/[^/]+(\/|$)/.test(path))) {
        if (this.mode === 'under' || path === h || path === '/root' || /^\/home\/[^/]+$/.test(path)) return true;
      }
      if (h && h !== '/' && path.startsWith(h) && path.length > h.length && path.charCodeAt(h.length) === 47) {
        hStart = h.length + 1;
        if (testBucket(this.home, path, hStart, this.mode, false)) return true;
      }
      // /root/ and /home/*/ too (another user's secrets are no less secret), unless that is
      // the agent's home just tested
      let gStart = -1;
      if (path.startsWith('/root/')) gStart = 6;
      else if (path.startsWith('/home/')) {
        const j = path.indexOf('/', 6);
        if (j > 0) gStart = j + 1;
      }
      if (gStart >= 0 && gStart !== hStart && testBucket(this.home, path, gStart, this.mode, false)) return true;
    }
    if (this.hasRel) {
      const c = ctx.cwd;
      if (c && c !== '/' && path.startsWith(c) && path.length > c.length && path.charCodeAt(c.length) === 47) {
        if (testBucket(this.rel, path, c.length + 1, this.mode, false)) return true;
      }
    }
    return false;
  }

  /**
   * Substrings at least one of which occurs in the JSON line of every event whose field
   * (JSON key `key`) this matcher accepts (JSON-safe ASCII only), or null when no such set
   * exists (e.g. a bare `~` or `**` pattern). Absolute patterns are anchored to the key
   * (`"path":"/etc/cron`), since bare prefixes like /usr occur in every line.
   */
  literals(key?: string): LitExpr | null {
    const parts: Array<LitExpr | null> = [];
    for (const raw of this.patterns) {
      const p0 = raw.length > 1 && raw.endsWith('/') ? raw.slice(0, -1) : raw;
      if (key !== undefined && p0.startsWith('/')) {
        const norm = normalizePath(p0);
        const lit = norm.split(/\*|\?/)[0]!;
        if (!jsonSafeLiteral(lit)) return null;
        const anchored = `"${key}":"${lit}`;
        // with a wildcard, a long fixed part after it may be rarer than the prefix
        const chunks = hasWild(norm) ? norm.split(/\*+|\?/).slice(1).filter((c) => c.length >= 4 && jsonSafeLiteral(c)) : [];
        let best = anchored;
        let bestCost = literalCost(anchored, 'path');
        for (const c of chunks) if (literalCost(c) < bestCost) [best, bestCost] = [c, literalCost(c)];
        parts.push(best === anchored ? litSet([anchored], 'path') : litSet([best]));
        continue;
      }
      let p = p0;
      if (p.startsWith('~/')) p = '/' + p.slice(2);
      else if (p.startsWith('**/')) p = '/' + p.slice(3);
      else if (!p.startsWith('/')) p = '/' + (p.startsWith('./') ? p.slice(2) : p);
      const chunks = p.split(/\*+|\?/).filter((c) => c.length > 0);
      let best = '';
      for (const c of chunks) if (c.length > best.length) best = c;
      if (best.length < 3 || !jsonSafeLiteral(best)) return null;
      parts.push(litSet([best], 'path'));
    }
    return parts.length ? litUnion(parts) : null;
  }
}

interface IndexEntry {
  p: string;
  ids: number[];
}

interface ReEntry {
  re: RegExp;
  ids: number[];
}

interface IndexBucket {
  lit: Map<string, IndexEntry[]>;
  re: Map<string, ReEntry[]>;
}

function newBucket(): IndexBucket {
  return { lit: new Map(), re: new Map() };
}

function pushEntry<T extends { ids: number[] }>(m: Map<string, T[]>, key: string, match: (e: T) => boolean, make: () => T, id: number): void {
  const arr = m.get(key) ?? [];
  let e = arr.find(match);
  if (!e) {
    e = make();
    arr.push(e);
  }
  if (!e.ids.includes(id)) e.ids.push(id);
  m.set(key, arr);
}

/**
 * All `under` matchers of a rule set evaluated in one pass: a file event asks a dozen rules
 * whether its path is under their lists, and computing each list separately was the largest
 * cost of classifying a file event. Results are kept for the last two paths of the event.
 */
export class PathIndex {
  private readonly abs = newBucket();
  private readonly home = newBucket();
  private readonly rel = newBucket();
  private readonly deep: ReEntry[] = [];
  private readonly deepAny: RegExp | undefined;
  private readonly homeAll: number[] = [];
  private readonly slots: Array<{ gen: number; path: string; mark: number; stamps: Int32Array }>;
  private mark = 0;
  private next = 0;
  private ids: number[] = [];

  constructor(matchers: readonly PathMatcher[]) {
    const n = matchers.length;
    this.slots = [0, 1].map(() => ({ gen: -1, path: '', mark: 0, stamps: new Int32Array(n) }));
    const deepSrc: string[] = [];
    matchers.forEach((m, id) => {
      if (m.mode !== 'under') throw new Error('internal: only under matchers are indexed');
      m.id = id;
      m.index = this;
      for (const raw of m.patterns) {
        const p = raw.length > 1 && raw.endsWith('/') ? raw.slice(0, -1) : raw;
        if (p === '~') this.homeAll.push(id);
        else if (p.startsWith('~/')) this.add(this.home, p.slice(2), false, id);
        else if (p.startsWith('**/')) {
          const src = '(?:^|/)' + globBody(p.slice(3)) + '(?:/|$)';
          let e = this.deep.find((x) => x.re.source === new RegExp(src).source);
          if (!e) {
            e = { re: new RegExp(src), ids: [] };
            this.deep.push(e);
            deepSrc.push(src);
          }
          if (!e.ids.includes(id)) e.ids.push(id);
        } else if (p.startsWith('/')) this.add(this.abs, normalizePath(p), true, id);
        else if (p.length > 0) this.add(this.rel, p.startsWith('./') ? p.slice(2) : p, false, id);
      }
    });
    this.deepAny = deepSrc.length ? new RegExp(deepSrc.join('|')) : undefined;
  }

  private add(b: IndexBucket, pattern: string, abs: boolean, id: number): void {
    const first = firstComponent(pattern, abs ? 1 : 0);
    if (!hasWild(pattern)) {
      pushEntry(b.lit, first, (e) => e.p === pattern, () => ({ p: pattern, ids: [] }), id);
      return;
    }
    const key = hasWild(first) ? '' : first;
    const src = '^' + globBody(pattern) + '(?:/.*)?$';
    pushEntry(b.re, key, (e) => e.re.source === new RegExp(src).source, () => ({ re: new RegExp(src), ids: [] }), id);
  }

  test(id: number, path: string, ctx: PathContext): boolean {
    const gen = PathMatcher.generation;
    for (const s of this.slots) if (s.gen === gen && s.path === path) return s.stamps[id] === s.mark;
    const s = this.slots[this.next]!;
    this.next ^= 1;
    s.gen = gen;
    s.path = path;
    s.mark = ++this.mark;
    this.ids = [];
    this.compute(path, ctx);
    for (const i of this.ids) s.stamps[i] = s.mark;
    return s.stamps[id] === s.mark;
  }

  private hit(ids: number[]): void {
    for (const i of ids) this.ids.push(i);
  }

  private scan(b: IndexBucket, s: string, off: number, abs: boolean): void {
    const from = abs ? off + 1 : off;
    const j = s.indexOf('/', from);
    const first = j < 0 ? s.slice(from) : s.slice(from, j);
    const len = s.length - off;
    const lits = b.lit.get(first);
    if (lits) {
      for (const e of lits) {
        const p = e.p;
        if (len === p.length ? s.startsWith(p, off) : len > p.length && s.charCodeAt(off + p.length) === 47 && s.startsWith(p, off)) this.hit(e.ids);
      }
    }
    const res = b.re.get(first);
    const any = b.re.get('');
    if (res || any) {
      const rest = off === 0 ? s : s.slice(off);
      if (res) for (const e of res) if (e.re.test(rest)) this.hit(e.ids);
      if (any) for (const e of any) if (e.re.test(rest)) this.hit(e.ids);
    }
  }

  private compute(path: string, ctx: PathContext): void {
    if (path.length === 0 || path.charCodeAt(0) !== 47) return;
    this.scan(this.abs, path, 0, true);
    if (this.deepAny !== undefined && this.deepAny.test(path)) for (const e of this.deep) if (e.re.test(path)) this.hit(e.ids);
    let hStart = -1;
    const h = ctx.home;
    if (h && h !== '/' && path.startsWith(h) && (path.length === h.length || path.charCodeAt(h.length) === 47)) {
      if (this.homeAll.length) this.hit(this.homeAll);
      if (path.length > h.length) {
        hStart = h.length + 1;
        this.scan(this.home, path, hStart, false);
      }
    }
    let gStart = -1;
    if (path.startsWith('/root/')) gStart = 6;
    else if (path.startsWith('/home/')) {
      const j = path.indexOf('/', 6);
      if (j > 0) gStart = j + 1;
    }
    if (gStart >= 0 && gStart !== hStart) {
      if (this.homeAll.length && hStart < 0) this.hit(this.homeAll);
      this.scan(this.home, path, gStart, false);
    }
    const c = ctx.cwd;
    if (c && c !== '/' && path.startsWith(c) && path.length > c.length && path.charCodeAt(c.length) === 47) this.scan(this.rel, path, c.length + 1, false);
  }
}

/** True if s appears verbatim inside JSON.stringify of any string containing it. */
export function jsonSafeLiteral(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 34 || c === 92) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Network destinations

/** Parses dotted IPv4 into a uint32, or -1. */
export function parseIPv4(s: string): number {
  let n = 0;
  let parts = 0;
  let cur = -1;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46;
    if (c === 46) {
      if (cur < 0 || cur > 255) return -1;
      n = n * 256 + cur;
      parts++;
      cur = -1;
    } else if (c >= 48 && c <= 57) {
      cur = cur < 0 ? c - 48 : cur * 10 + (c - 48);
      if (cur > 255) return -1;
    } else return -1;
  }
  return parts === 4 ? n : -1;
}

/** Parses an IPv6 address into 8 16-bit groups, or undefined. IPv4-mapped tails allowed. */
export function parseIPv6(s0: string): number[] | undefined {
  let s = s0;
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  if (!s.includes(':')) return undefined;
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    // IPv4-mapped/compatible tail: rewrite as two hex groups
    const v4 = parseIPv4(tail);
    if (v4 < 0) return undefined;
    s = s.slice(0, lastColon + 1) + ((v4 >>> 16) & 0xffff).toString(16) + ':' + (v4 & 0xffff).toString(16);
  }
  const parseGroups = (t: string): number[] | undefined => {
    if (t === '') return [];
    const out: number[] = [];
    for (const g of t.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const dbl = s.indexOf('::');
  let groups: number[];
  if (dbl >= 0) {
    if (s.indexOf('::', dbl + 1) >= 0) return undefined;
    const a = parseGroups(s.slice(0, dbl));
    const b = parseGroups(s.slice(dbl + 2));
    if (!a || !b) return undefined;
    const fill = 8 - a.length - b.length;
    if (fill < 1) return undefined;
    groups = [...a, ...new Array<number>(fill).fill(0), ...b];
  } else {
    const a = parseGroups(s);
    if (!a) return undefined;
    groups = a;
  }
  return groups.length === 8 ? groups : undefined;
}

interface Cidr {
  v4?: { net: number; mask: number };
  v6?: { groups: number[]; bits: number };
}

export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  const addr = slash >= 0 ? s.slice(0, slash) : s;
  const bitsStr = slash >= 0 ? s.slice(slash + 1) : undefined;
  const v4 = parseIPv4(addr);
  if (v4 >= 0) {
    const bits = bitsStr === undefined ? 32 : Number(bitsStr);
    if (!Number.isInteger(bits) || bits < 0 || bits > 32) return undefined;
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return { v4: { net: (v4 & mask) >>> 0, mask } };
  }
  const v6 = parseIPv6(addr);
  if (v6) {
    const bits = bitsStr === undefined ? 128 : Number(bitsStr);
    if (!Number.isInteger(bits) || bits < 0 || bits > 128) return undefined;
    return { v6: { groups: v6, bits } };
  }
  return undefined;
}

function v4Of(ip: string): number {
  const v4 = parseIPv4(ip);
  if (v4 >= 0) return v4;
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) counts as the IPv4 address
  if (ip.startsWith('::ffff:')) return parseIPv4(ip.slice(7));
  return -1;
}

function cidrHas(c: Cidr, ip: string): boolean {
  if (c.v4) {
    const n = v4Of(ip);
    return n >= 0 && (n & c.v4.mask) >>> 0 === c.v4.net;
  }
  if (c.v6) {
    const g = parseIPv6(ip);
    if (!g) return false;
    let bits = c.v6.bits;
    for (let i = 0; i < 8 && bits > 0; i++) {
      const take = Math.min(16, bits);
      const mask = take === 16 ? 0xffff : (0xffff << (16 - take)) & 0xffff;
      if ((g[i]! & mask) !== (c.v6.groups[i]! & mask)) return false;
      bits -= take;
    }
    return true;
  }
  return false;
}

const LOOPBACK = ['127.0.0.0/8', '::1/128'].map((s) => parseCidr(s)!);
const PRIVATE = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7'].map((s) => parseCidr(s)!);
const LINK_LOCAL = ['169.254.0.0/16', 'fe80::/10'].map((s) => parseCidr(s)!);

export function isLoopbackIp(ip: string): boolean {
  return LOOPBACK.some((c) => cidrHas(c, ip));
}
export function isPrivateIp(ip: string): boolean {
  return PRIVATE.some((c) => cidrHas(c, ip));
}
export function isLinkLocalIp(ip: string): boolean {
  return LINK_LOCAL.some((c) => cidrHas(c, ip));
}
export function isIpLiteral(s: string): boolean {
  return parseIPv4(s) >= 0 || parseIPv6(s) !== undefined;
}

interface DestEntry {
  /** exact host name, or suffix when wildcard ('*.x.com' → '.x.com'). */
  name?: string;
  wildcard?: boolean;
  cidr?: Cidr;
  port?: number;
}

/** Parses a `network.allow` entry: host, *.domain, IP, CIDR, each optionally with :port. */
export function parseDestEntry(raw: string): DestEntry | undefined {
  let s = raw.trim().toLowerCase();
  if (!s) return undefined;
  let port: number | undefined;
  // [v6]:port, host:port, v4:port; a bare v6 address has several colons and no port
  const br = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (br) {
    s = br[1]!;
    if (br[2]) port = Number(br[2]);
  } else {
    const colons = s.split(':').length - 1;
    if (colons === 1) {
      const [h, p] = s.split(':');
      if (!/^\d+$/.test(p!)) return undefined;
      s = h!;
      port = Number(p);
    }
  }
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  const cidr = parseCidr(s);
  if (cidr) return { cidr, port };
  if (s.startsWith('*.')) {
    const rest = s.slice(2);
    if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$/.test(rest)) return undefined;
    return { name: '.' + rest.replace(/\.$/, ''), wildcard: true, port };
  }
  if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$/.test(s)) return undefined;
  return { name: s.replace(/\.$/, ''), port };
}

/** An allowlist of destinations (names, wildcards, IPs, CIDRs, optional ports). */
export class DestMatcher {
  private readonly exact = new Map<string, Array<number | undefined>>();
  private readonly suffixes: Array<{ sfx: string; port: number | undefined }> = [];
  private readonly cidrs: Array<{ c: Cidr; port: number | undefined }> = [];
  readonly invalid: string[] = [];

  constructor(entries: readonly string[]) {
    for (const e of entries) {
      const d = parseDestEntry(e);
      if (!d) {
        this.invalid.push(e);
        continue;
      }
      if (d.cidr) this.cidrs.push({ c: d.cidr, port: d.port });
      else if (d.wildcard) this.suffixes.push({ sfx: d.name!, port: d.port });
      else {
        const arr = this.exact.get(d.name!) ?? [];
        arr.push(d.port);
        this.exact.set(d.name!, arr);
      }
    }
  }

  /** Does a name (ignoring ports) match? */
  name(host: string): boolean {
    const h = normHost(host);
    if (!h) return false;
    if (this.exact.has(h)) return true;
    for (const s of this.suffixes) if (h.endsWith(s.sfx)) return true;
    return false;
  }

  /** Does a destination (host name and/or IP, port) match? */
  dest(host: string | undefined, ip: string | undefined, port: number | undefined): boolean {
    const okPort = (p: number | undefined) => p === undefined || p === port;
    if (host) {
      const h = normHost(host);
      const ports = this.exact.get(h);
      if (ports && ports.some(okPort)) return true;
      for (const s of this.suffixes) if (h.endsWith(s.sfx) && okPort(s.port)) return true;
    }
    if (ip) for (const c of this.cidrs) if (okPort(c.port) && cidrHas(c.c, ip)) return true;
    return false;
  }

  get size(): number {
    return this.exact.size + this.suffixes.length + this.cidrs.length;
  }
}

function normHost(h: string): string {
  let s = h.toLowerCase();
  if (s.endsWith('.')) s = s.slice(0, -1);
  return s;
}

/** Shannon entropy in bits per character. */
export function shannonEntropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<number, number>();
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}
