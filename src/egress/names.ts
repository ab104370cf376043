// Host name normalisation. Two doors: names written by people in a policy (may be Unicode,
// upper case, trailing dot) and names seen on the wire (DNS question, TLS SNI, HTTP Host),
// which must already be ASCII. Both end in the same lower-case A-label form, so comparing
// two normalised names is a plain string comparison.
import { domainToASCII } from 'node:url';
import { parseIpLiteral, type IpLiteral } from './ip.js';

export type NormalisedHost =
  | { kind: 'name'; name: string }
  | { kind: 'ip'; ip: IpLiteral }
  | { kind: 'invalid'; reason: string };

const WIRE_CHARS = /^[A-Za-z0-9._-]+$/;
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

function checkAscii(name: string): string | undefined {
  if (name.length === 0) return 'empty name';
  if (name.length > 253) return 'name longer than 253 characters';
  for (const l of name.split('.')) {
    if (l.length === 0) return 'empty label';
    if (l.length > 63) return 'label longer than 63 characters';
    if (!LABEL.test(l)) return `invalid label "${l}"`;
  }
  // domainToASCII validates Punycode (xn--) labels; a name it changes was not canonical.
  if (domainToASCII(name) !== name) return 'invalid internationalised label';
  return undefined;
}

function classify(stripped: string, ascii: () => string | undefined): NormalisedHost {
  const lit = parseIpLiteral(stripped);
  if (lit === 'invalid') return { kind: 'invalid', reason: 'malformed numeric address' };
  if (lit) return { kind: 'ip', ip: lit };
  const name = ascii();
  if (name === undefined) return { kind: 'invalid', reason: 'not a host name' };
  // IDNA maps full-width digits and dots: "１２７.０.０.１" must still be seen as an address.
  const lit2 = parseIpLiteral(name);
  if (lit2 === 'invalid') return { kind: 'invalid', reason: 'malformed numeric address' };
  if (lit2) return { kind: 'ip', ip: lit2 };
  const err = checkAscii(name);
  return err ? { kind: 'invalid', reason: err } : { kind: 'name', name };
}

function stripDot(s: string): string {
  return s.endsWith('.') && !s.endsWith('..') ? s.slice(0, -1) : s;
}

/** A name as it arrives on the wire (DNS question, SNI, Host): ASCII only, case-insensitive. */
export function normaliseWireHost(raw: string): NormalisedHost {
  if (raw.startsWith('[') || raw.includes(':')) return classify(raw, () => undefined);
  if (!WIRE_CHARS.test(raw)) return { kind: 'invalid', reason: 'non-ASCII or forbidden character in name' };
  const s = stripDot(raw).toLowerCase();
  return classify(s, () => s);
}

/** A name written in a policy: Unicode is converted to A-labels (IDNA/UTS-46), like browsers do. */
export function normalisePolicyHost(raw: string): NormalisedHost {
  if (raw.startsWith('[') || raw.includes(':')) return classify(raw, () => undefined);
  // domainToASCII parses URL syntax ("a/b" gives "a", "%41" decodes): refuse those characters first.
  if (/[\s/\\%?#@:*<>|^"'`{}[\]]/.test(raw) || /[\u0000-\u001f\u007f]/.test(raw)) {
    return { kind: 'invalid', reason: 'forbidden character in name' };
  }
  const s = stripDot(raw);
  return classify(s.toLowerCase(), () => {
    const a = domainToASCII(s);
    return a === '' ? undefined : a.toLowerCase();
  });
}

/** true when `name` is `domain` or below it (both normalised). */
export function isSubdomainOf(name: string, domain: string): boolean {
  return name.length > domain.length && name.endsWith(domain) && name[name.length - domain.length - 1] === '.';
}
