// Surrogates: stand-ins for secrets that have the same shape as the real value (known prefix,
// length, alphabet of every position; a JWT keeps its header and claims and gets another
// signature; GitHub and npm tokens get a valid checksum), so tools inside the sandbox accept
// them, and the proxy can swap one for the other without changing any length or framing.
import crypto from 'node:crypto';

/** Prefixes kept as they are (longest first). */
const PREFIXES = [
  'sk-ant-api03-', 'sk-ant-admin01-', 'sk-ant-oat01-', 'sk-ant-', 'sk-proj-', 'sk-svcacct-', 'sk-',
  'github_pat_', 'ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'glpat-', 'gldt-', 'glrt-',
  'xoxb-', 'xoxp-', 'xoxa-', 'xoxr-', 'xoxs-', 'xapp-', 'AKIA', 'ASIA', 'AIza', 'npm_', 'pypi-', 'hf_', 'dop_v1_', 'shpat_', 'SG.',
];

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGIT = '0123456789';
const HEX_LOWER = '0123456789abcdef';
const HEX_UPPER = '0123456789ABCDEF';
const BASE62 = DIGIT + UPPER + LOWER;

function pick(alphabet: string): string {
  return alphabet[crypto.randomInt(alphabet.length)]!;
}

/** Same class for every character: lower → lower, upper → upper, digit → digit; others kept. */
function scramble(s: string, hex: false | 'lower' | 'upper'): string {
  let out = '';
  for (const ch of s) {
    if (hex === 'lower' && /[0-9a-f]/.test(ch)) out += pick(HEX_LOWER);
    else if (hex === 'upper' && /[0-9A-F]/.test(ch)) out += pick(HEX_UPPER);
    else if (ch >= 'a' && ch <= 'z') out += pick(LOWER);
    else if (ch >= 'A' && ch <= 'Z') out += pick(UPPER);
    else if (ch >= '0' && ch <= '9') out += pick(DIGIT);
    else out += ch;
  }
  return out;
}

function hexKind(s: string): false | 'lower' | 'upper' {
  if (s.length >= 16 && /^[0-9a-f]+$/.test(s)) return 'lower';
  if (s.length >= 16 && /^[0-9A-F]+$/.test(s)) return 'upper';
  return false;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(s: string): number {
  let c = 0xffffffff;
  for (let i = 0; i < s.length; i++) c = CRC_TABLE[(c ^ s.charCodeAt(i)) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function base62(n: number, width: number): string {
  let s = '';
  while (n > 0) {
    s = BASE62[n % 62]! + s;
    n = Math.floor(n / 62);
  }
  return s.padStart(width, '0');
}

/** ghp_/gho_/…/npm_ tokens: 30 base62 characters and a 6-character base62 CRC32 of them. */
function checksummed(prefix: string, real: string): string | undefined {
  const body = real.slice(prefix.length);
  if (!/^(gh[pousr]_|npm_)$/.test(prefix) || !/^[0-9A-Za-z]{36}$/.test(body)) return undefined;
  const random = scramble(body.slice(0, 30), false);
  return prefix + random + base62(crc32(random), 6);
}

function b64url(s: string): boolean {
  return /^[A-Za-z0-9_-]+$/.test(s);
}

/** A JWT: same header and claims (tools read `exp`), another signature of the same length. */
function jwt(real: string): string | undefined {
  const parts = real.split('.');
  if (parts.length !== 3 || !parts.every((p, i) => b64url(p) || (i === 2 && p === ''))) return undefined;
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as unknown;
    JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    if (typeof header !== 'object' || header === null || !('alg' in header)) return undefined;
  } catch {
    return undefined;
  }
  const sig = parts[2]!;
  if (sig.length === 0) return undefined; // unsigned: nothing secret to replace
  let fresh = crypto.randomBytes(Math.ceil((sig.length * 3) / 4) + 2).toString('base64url').slice(0, sig.length);
  // The last character of base64url carries padding bits: keep its decodability by keeping
  // the length, and make sure the signature differs.
  if (fresh === sig) fresh = scramble(sig, false);
  return `${parts[0]}.${parts[1]}.${fresh}`;
}

/**
 * A surrogate for `real`: same length and shape, never equal to it, and containing no
 * 8-character run of it beyond the kept prefix (a partial echo must not reveal the secret).
 */
export function makeSurrogate(real: string): string {
  if (real.length < 8) throw new Error('a credential shorter than 8 characters cannot be told apart from ordinary text');
  for (let attempt = 0; attempt < 20; attempt++) {
    const s = candidate(real);
    if (s !== real && s.length === real.length && !sharesRun(real, s)) return s;
  }
  throw new Error('could not make a surrogate that differs enough from the credential');
}

function candidate(real: string): string {
  const j = jwt(real);
  if (j) return j;
  const prefix = PREFIXES.find((p) => real.startsWith(p) && real.length > p.length + 4) ?? '';
  const sum = checksummed(prefix, real);
  if (sum) return sum;
  const rest = real.slice(prefix.length);
  return prefix + scramble(rest, hexKind(rest));
}

/** Whether `b` contains any 8-character window of `a` outside their common prefix. */
function sharesRun(a: string, b: string): boolean {
  let keep = 0;
  while (keep < a.length && a[keep] === b[keep]) keep++;
  // A JWT keeps header and claims on purpose: only the signature is secret.
  const dots = a.split('.');
  if (dots.length === 3 && b.startsWith(`${dots[0]}.${dots[1]}.`)) keep = dots[0]!.length + dots[1]!.length + 2;
  for (let i = keep; i + 8 <= a.length; i++) {
    const w = a.slice(i, i + 8);
    if (/^[^A-Za-z0-9]*$/.test(w)) continue;
    if (b.indexOf(w, keep) >= 0 && !/^[-_.]+$/.test(w)) return true;
  }
  return false;
}
