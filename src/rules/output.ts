// Rule output templates: "Secret %file.path read by %proc.cmdline". A `%` followed by a
// field path is replaced by that field of the event (lists joined by spaces, long values
// cut, absent fields empty); `%%` is a literal percent. Fields are checked at load like
// conditions.
import type { Fn } from './cel.js';

export type Template = (ev: Record<string, unknown>, steps?: ReadonlyMap<string, Record<string, unknown>>) => string;

const TOKEN = /%(%|[a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*)/gi;
const MAX_VALUE = 256;

export function formatValue(v: unknown): string {
  let s: string;
  if (v === undefined || v === null) s = '';
  else if (typeof v === 'string') s = v;
  else if (Array.isArray(v)) s = v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' ');
  else if (typeof v === 'object') s = JSON.stringify(v);
  else s = String(v);
  return s.length > MAX_VALUE ? s.slice(0, MAX_VALUE - 1) + '…' : s;
}

export interface TemplateField {
  /** Step name for sequence templates (`%read.file.path`), else undefined. */
  step?: string;
  path: string;
}

/** Splits a template into literal text and field references (for validation and compiling). */
export function scanTemplate(src: string): Array<string | TemplateField> {
  const out: Array<string | TemplateField> = [];
  let last = 0;
  for (const m of src.matchAll(TOKEN)) {
    if (m.index! > last) out.push(src.slice(last, m.index));
    if (m[1] === '%') out.push('%');
    else out.push({ path: m[1]! });
    last = m.index! + m[0].length;
  }
  if (last < src.length) out.push(src.slice(last));
  return out;
}

/**
 * Builds a renderer. `compileField(path)` returns a closure reading that field (and throws
 * a compile error for unknown fields); `steps` names the steps of a sequence, whose fields
 * are written `%step.field`.
 */
export function compileTemplate(src: string, compileField: (path: string) => Fn, steps: readonly string[] = []): Template {
  const parts: Array<string | { step?: string; fn: Fn }> = [];
  for (const p of scanTemplate(src)) {
    if (typeof p === 'string') {
      parts.push(p);
      continue;
    }
    const dot = p.path.indexOf('.');
    const head = dot > 0 ? p.path.slice(0, dot) : p.path;
    if (steps.includes(head) && dot > 0) parts.push({ step: head, fn: compileField(p.path.slice(dot + 1)) });
    else parts.push({ fn: compileField(p.path) });
  }
  return (ev, stepEvents) => {
    let out = '';
    for (const p of parts) {
      if (typeof p === 'string') {
        out += p;
        continue;
      }
      const target = p.step ? stepEvents?.get(p.step) : ev;
      if (!target) continue;
      let v: unknown;
      try {
        v = p.fn(target);
      } catch {
        v = undefined;
      }
      out += formatValue(v);
    }
    // absent fields leave double spaces behind
    return out.replace(/ {2,}/g, ' ').trim();
  };
}
