// What one request may carry. Toward a host a credential is scoped to, over TLS, its surrogate
// becomes the real value in the places the policy allows (any header by default; named
// headers, query parameters, the body or named body fields). Anywhere else, and always over
// plain HTTP, a real value is replaced by its surrogate ("stripped") and that is an alert: the
// sandbox never had it, so it leaked in some other way. Responses from a scoped host get every
// real value replaced by its surrogate before the client reads them (re-masking).
import { replaceAll, ReplaceStream, type Pair } from './replace.js';
import type { CredentialStore, Secret } from './store.js';

export interface Tally {
  injected: Map<string, number>;
  stripped: Map<string, number>;
  /** Where values were swapped in (`header:authorization`, `query:key`, `body`). */
  places: Set<string>;
}

export function emptyTally(): Tally {
  return { injected: new Map(), stripped: new Map(), places: new Set() };
}

function bump(m: Map<string, number>, k: string, n = 1): void {
  m.set(k, (m.get(k) ?? 0) + n);
}

function defaultPlaces(s: Secret): boolean {
  return s.headers === undefined && s.query === undefined && s.body === undefined;
}

/** Replaces `from` by `to` in a string; how many times. */
function swapText(v: string, from: Buffer, to: Buffer): { v: string; n: number } {
  const b = Buffer.from(v, 'latin1');
  const n = replaceAll(b, [{ from, to, name: '' }]);
  return n ? { v: b.toString('latin1'), n } : { v, n: 0 };
}

/** The credential decisions for one request to `host:port`. */
export class RequestCredentials {
  /** Secrets whose surrogate may become real here. */
  readonly allowed: Secret[];
  readonly tally = emptyTally();

  constructor(
    private readonly store: CredentialStore,
    readonly host: string,
    readonly port: number,
    /** TLS to the upstream (plain HTTP never carries a real value). */
    readonly secure: boolean,
  ) {
    this.allowed = secure ? store.secrets.filter((s) => s.scope.decideName(host, port).allowed) : [];
  }

  /** Whether responses must be re-masked (a real value may have been sent here). */
  get scoped(): boolean {
    return this.allowed.length > 0;
  }

  private stripText(v: string, keep: (s: Secret) => boolean): string {
    for (const s of this.store.secrets) {
      if (keep(s)) continue;
      const r = swapText(v, s.real, s.surrogate);
      if (r.n) {
        v = r.v;
        bump(this.tally.stripped, s.name, r.n);
      }
    }
    return v;
  }

  /** Request headers as a flat [name, value, …] list; AWS pairs are left to the SigV4 re-signer. */
  headers(raw: readonly string[]): string[] {
    const out: string[] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!;
      const lower = name.toLowerCase();
      const mayCarry = (s: Secret) => this.allowed.includes(s) && !s.aws && (defaultPlaces(s) || (s.headers?.includes(lower) ?? false));
      out.push(name, this.headerValue(lower, raw[i + 1]!, mayCarry));
    }
    return out;
  }

  private headerValue(lower: string, value: string, mayCarry: (s: Secret) => boolean): string {
    // Basic credentials are base64 of user:password: swap inside the decoded pair.
    const basic = /^(\s*basic\s+)([A-Za-z0-9+/]+=*)\s*$/i.exec(value);
    if (basic && (lower === 'authorization' || lower === 'proxy-authorization')) {
      const decoded = Buffer.from(basic[2]!, 'base64').toString('latin1');
      const swapped = this.swapValue(lower, decoded, mayCarry);
      if (swapped !== decoded) return basic[1]! + Buffer.from(swapped, 'latin1').toString('base64');
    }
    return this.swapValue(lower, value, mayCarry);
  }

  private swapValue(lower: string, value: string, mayCarry: (s: Secret) => boolean): string {
    let v = this.stripText(value, mayCarry);
    for (const s of this.allowed) {
      if (!mayCarry(s) && !(s.aws === 'token' && lower === 'x-amz-security-token')) continue;
      const r = swapText(v, s.surrogate, s.real);
      if (r.n) {
        v = r.v;
        bump(this.tally.injected, s.name, r.n);
        this.tally.places.add(`header:${lower}`);
      }
    }
    return v;
  }

  /** The request target: real values stripped; surrogates swapped in allowed query parameters. */
  target(t: string): string {
    const q = t.indexOf('?');
    const allowedParam = (s: Secret, p: string) => this.allowed.includes(s) && !s.aws && (s.query?.includes(p) ?? false);
    if (q < 0) return this.stripText(t, () => false);
    const path = this.stripText(t.slice(0, q), () => false);
    const params = t
      .slice(q + 1)
      .split('&')
      .map((kv) => {
        const eq = kv.indexOf('=');
        if (eq < 0) return this.stripText(kv, () => false);
        let name: string;
        try {
          name = decodeURIComponent(kv.slice(0, eq).replace(/\+/g, ' '));
        } catch {
          name = kv.slice(0, eq);
        }
        let v = this.stripText(kv.slice(eq + 1), (s) => allowedParam(s, name));
        for (const s of this.allowed) {
          if (!allowedParam(s, name)) continue;
          const r = swapText(v, s.surrogate, s.real);
          if (r.n) {
            v = r.v;
            bump(this.tally.injected, s.name, r.n);
            this.tally.places.add(`query:${name}`);
          }
        }
        return `${this.stripText(kv.slice(0, eq), () => false)}=${v}`;
      });
    return `${path}?${params.join('&')}`;
  }

  /** Secrets allowed anywhere in the body (`body: true`). */
  private bodyWide(): Secret[] {
    return this.allowed.filter((s) => s.body === true && !s.aws);
  }

  /** Secrets allowed in named body fields. */
  bodyFields(): Secret[] {
    return this.allowed.filter((s) => Array.isArray(s.body) && !s.aws);
  }

  /** A transform for the request body: strip everywhere, swap in where `body: true`. */
  bodyStream(): ReplaceStream {
    const wide = new Set(this.bodyWide());
    const pairs: Pair[] = [
      ...this.store.secrets.filter((s) => !wide.has(s)).map((s) => ({ from: s.real, to: s.surrogate, name: `strip:${s.name}` })),
      ...[...wide].map((s) => ({ from: s.surrogate, to: s.real, name: `inject:${s.name}` })),
    ];
    return new ReplaceStream(pairs);
  }

  /**
   * A whole (buffered) JSON or form body with surrogates swapped in the named fields only.
   * Returns undefined when the body is neither (then only the streaming rules apply).
   */
  fieldBody(body: Buffer, contentType: string | undefined): Buffer | undefined {
    const fields = this.bodyFields();
    if (!fields.length) return undefined;
    const ct = (contentType ?? '').toLowerCase();
    if (ct.includes('json')) {
      let doc: unknown;
      try {
        doc = JSON.parse(body.toString('utf8'));
      } catch {
        return undefined;
      }
      const walk = (v: unknown, key?: string): unknown => {
        if (typeof v === 'string' && key !== undefined) {
          let out = v;
          for (const s of fields) {
            if (!(s.body as string[]).includes(key)) continue;
            const r = swapText(out, s.surrogate, s.real);
            if (r.n) {
              out = r.v;
              bump(this.tally.injected, s.name, r.n);
              this.tally.places.add(`body:${key}`);
            }
          }
          return out;
        }
        if (Array.isArray(v)) return v.map((x) => walk(x, key));
        if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
        return v;
      };
      return Buffer.from(JSON.stringify(walk(doc)));
    }
    if (ct.includes('application/x-www-form-urlencoded')) {
      const params = new URLSearchParams(body.toString('utf8'));
      for (const [k, v] of [...params.entries()]) {
        let out = v;
        for (const s of fields) {
          if (!(s.body as string[]).includes(k)) continue;
          const r = swapText(out, s.surrogate, s.real);
          if (r.n) {
            out = r.v;
            bump(this.tally.injected, s.name, r.n);
            this.tally.places.add(`body:${k}`);
          }
        }
        if (out !== v) params.set(k, out);
      }
      return Buffer.from(params.toString());
    }
    return undefined;
  }

  /** Folds a body stream's counts into the tally. */
  absorb(stream: ReplaceStream): void {
    for (const [k, n] of stream.counts) {
      if (k.startsWith('strip:')) bump(this.tally.stripped, k.slice(6), n);
      else {
        bump(this.tally.injected, k.slice(7), n);
        this.tally.places.add('body');
      }
    }
  }

  /** Real → surrogate pairs for responses (every credential: none may reach the client). */
  remaskPairs(): Pair[] {
    return this.store.secrets.map((s) => ({ from: s.real, to: s.surrogate, name: s.name }));
  }

  /** Response headers, re-masked; counts per credential name into `counts`. */
  responseHeaders(raw: readonly string[], counts: Map<string, number>): string[] {
    const pairs = this.remaskPairs();
    return raw.map((v, i) => {
      if (i % 2 === 0) return v;
      const b = Buffer.from(v, 'latin1');
      return replaceAll(b, pairs, counts) ? b.toString('latin1') : v;
    });
  }

  /** Response body re-masking (only toward scoped hosts; others never saw a real value). */
  responseStream(): ReplaceStream | undefined {
    return this.scoped ? new ReplaceStream(this.remaskPairs()) : undefined;
  }
}

