// Request rules per host (policy `network.rules`): which methods and paths an inspected host
// accepts, denials that win over them, and git smart-HTTP read-only access (fetch works, push
// is refused). A denial names the rule to change, for an agent to read.
import type { RequestRuleSpec } from '../sandbox/policy.js';
import { Policy } from './policy.js';

export interface RuleDecision {
  allowed: boolean;
  /** Reason code for events (`method-not-allowed`, `path-not-allowed`, `request-denied`, `git-push`). */
  reason?: string;
  /** What to change in the policy to allow it. */
  advice?: string;
}

interface CompiledRule {
  key: string;
  match: Policy;
  spec: RequestRuleSpec;
  paths?: RegExp[];
  deny: Array<{ methods?: Set<string>; paths?: RegExp[] }>;
}

/** `/repos/acme/**` → regex: `*` one path segment (no `/`), `**` any depth (also none). */
export function pathPattern(p: string): RegExp {
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*' && p[i + 1] === '*') {
      i++;
      if (p[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else re += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The path of a request target, percent-decoded where it is safe, dot segments resolved. */
export function normalisePath(target: string): string | undefined {
  const q = target.search(/[?#]/);
  let p = q >= 0 ? target.slice(0, q) : target;
  if (!p.startsWith('/')) {
    const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*(\/.*)?$/.exec(p);
    if (!m) return undefined;
    p = m[1] ?? '/';
  }
  // Decode unreserved escapes (%41 = A) so /repos/%61cme is /repos/acme; an encoded slash or
  // dot segment stays encoded, which no allow pattern matches by accident.
  try {
    p = p.replace(/%([0-9A-Fa-f]{2})/g, (m, h: string) => {
      const c = String.fromCharCode(parseInt(h, 16));
      return /[A-Za-z0-9\-_~]/.test(c) ? c : m.toUpperCase();
    });
  } catch {
    return undefined;
  }
  const out: string[] = [];
  for (const seg of p.split('/').slice(1)) {
    if (seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return '/' + out.join('/').replace(/\/{2,}/g, '/');
}

/** git smart HTTP push: the receive-pack service, discovered or posted. */
export function isGitPush(path: string, target: string): boolean {
  if (/\/git-receive-pack$/.test(path)) return true;
  if (/\/info\/refs$/.test(path)) {
    const q = target.indexOf('?');
    const params = new URLSearchParams(q >= 0 ? target.slice(q + 1) : '');
    return params.getAll('service').includes('git-receive-pack');
  }
  return false;
}

export class RequestRules {
  private readonly rules: CompiledRule[];

  constructor(spec: Record<string, RequestRuleSpec> = {}) {
    this.rules = Object.entries(spec).map(([key, s]) => ({
      key,
      match: new Policy([key]),
      spec: s,
      paths: s.paths?.map(pathPattern),
      deny: (s.deny ?? []).map((d) => ({ methods: d.methods ? new Set(d.methods.map((m) => m.toUpperCase())) : undefined, paths: d.paths?.map(pathPattern) })),
    }));
    // Exact names before wildcards, longer wildcards first (Policy's own order).
    this.rules.sort((a, b) => rank(b.key) - rank(a.key));
  }

  /** The rule that applies to a host, if any. */
  private ruleFor(host: string): CompiledRule | undefined {
    return this.rules.find((r) => r.match.knowsName(host));
  }

  /** Whether a host has any rule (then its TLS is inspected). */
  has(host: string): boolean {
    return this.ruleFor(host) !== undefined;
  }

  decide(host: string, method: string, target: string): RuleDecision {
    const r = this.ruleFor(host);
    if (!r) return { allowed: true };
    const where = `network.rules["${r.key}"]`;
    const path = normalisePath(target);
    if (path === undefined) return { allowed: false, reason: 'path-not-allowed', advice: `the request target ${JSON.stringify(target.slice(0, 200))} cannot be read` };
    const m = method.toUpperCase();
    if (r.spec.git === 'fetch' && isGitPush(path, target))
      return { allowed: false, reason: 'git-push', advice: `git push is refused for ${r.key} (${where}.git is "fetch"); set it to "push" to allow pushing` };
    for (const d of r.deny) {
      if ((!d.methods || d.methods.has(m)) && (!d.paths || d.paths.some((p) => p.test(path))))
        return { allowed: false, reason: 'request-denied', advice: `${m} ${path} matches an entry of ${where}.deny; remove it to allow this request` };
    }
    if (r.spec.methods && !r.spec.methods.includes(m))
      return { allowed: false, reason: 'method-not-allowed', advice: `to allow it, add "${m}" to ${where}.methods` };
    if (r.paths && !r.paths.some((p) => p.test(path)))
      return { allowed: false, reason: 'path-not-allowed', advice: `to allow it, add "${suggestPath(path)}" to ${where}.paths` };
    return { allowed: true };
  }
}

function rank(key: string): number {
  return key.startsWith('*.') ? key.length : 10_000 + key.length;
}

/** A pattern covering a path's first two segments, as a starting point for the policy. */
function suggestPath(path: string): string {
  const segs = path.split('/').filter(Boolean);
  return segs.length <= 2 ? path : `/${segs.slice(0, 2).join('/')}/**`;
}
