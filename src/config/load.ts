// Loads a YAML file and validates it with a zod schema. Every error names the file, the
// line and the key, because a security tool must never fall back to a silent default.
import fs from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';

export class ConfigError extends Error {
  readonly exitCode = 2;
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly key: string | undefined,
    readonly detail: string,
  ) {
    super(`${file}${line !== undefined ? `:${line}` : ''}: ${key ? `${key}: ` : ''}${detail}`);
    this.name = 'ConfigError';
  }
}

type Path = ReadonlyArray<PropertyKey>;

function nodeAt(doc: Document, path: Path): { node: Node | undefined; keyNode: Node | undefined } {
  let cur: unknown = doc.contents;
  let keyNode: Node | undefined;
  for (const seg of path) {
    if (isMap(cur)) {
      const pair = cur.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return { node: cur as Node, keyNode };
      keyNode = pair.key as Node;
      cur = pair.value;
    } else if (isSeq(cur) && typeof seg === 'number') {
      const item = cur.items[seg];
      if (item === undefined) return { node: cur as Node, keyNode };
      cur = item;
      keyNode = undefined;
    } else {
      break;
    }
  }
  return { node: (cur as Node) ?? undefined, keyNode };
}

function lineOf(lc: LineCounter, node: Node | undefined): number | undefined {
  const off = node?.range?.[0];
  return off === undefined ? undefined : lc.linePos(off).line;
}

export function formatKey(path: Path): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p);
  return s;
}

export interface ParsedYaml {
  file: string;
  doc: Document;
  lines: LineCounter;
  value: unknown;
}

/** Parses YAML text; syntax errors become ConfigError with the line. */
export function parseYaml(text: string, file: string): ParsedYaml {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const err = doc.errors[0];
  if (err) {
    const line = err.linePos?.[0]?.line ?? (err.pos ? lines.linePos(err.pos[0]).line : undefined);
    throw new ConfigError(file, line, undefined, `YAML syntax error: ${err.message.split('\n')[0]}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // An alias bomb (or an alias cycle) is refused by the yaml library with a plain throw.
    throw new ConfigError(file, undefined, undefined, `YAML: ${(err as Error).message}`);
  }
  return { file, doc, lines, value };
}

/** The line of a value at `path` in a parsed document (for errors raised after validation). */
export function lineAt(parsed: ParsedYaml, path: Path): number | undefined {
  const { node, keyNode } = nodeAt(parsed.doc, path);
  return lineOf(parsed.lines, keyNode ?? node);
}

/** Validates a parsed document, turning the first zod issue into a ConfigError. */
export function validateYaml<S extends z.ZodType>(parsed: ParsedYaml, schema: S): z.infer<S> {
  const r = schema.safeParse(parsed.value ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  let path: PropertyKey[] = [...issue.path];
  let detail = issue.message;
  if (issue.code === 'unrecognized_keys') {
    const k = issue.keys[0]!;
    path = [...path, k];
    detail = `unknown key (allowed: ${allowedKeys(schema, issue.path).join(', ') || 'none'})`;
  }
  const { node, keyNode } = nodeAt(parsed.doc, path);
  return failAt(parsed, lineOf(parsed.lines, keyNode ?? node), formatKey(path), detail);
}

function failAt(parsed: ParsedYaml, line: number | undefined, key: string, detail: string): never {
  throw new ConfigError(parsed.file, line, key || undefined, detail);
}

function allowedKeys(schema: z.ZodType, path: Path): string[] {
  let s: unknown = schema;
  for (const seg of path) {
    s = unwrap(s);
    const def = (s as { def?: { type?: string; shape?: Record<string, unknown>; element?: unknown } }).def;
    if (def?.type === 'object' && def.shape) s = def.shape[String(seg)];
    else if (def?.type === 'array') s = def.element;
    else return [];
  }
  s = unwrap(s);
  const def = (s as { def?: { type?: string; shape?: Record<string, unknown> } }).def;
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

function unwrap(s: unknown): unknown {
  for (let i = 0; i < 10; i++) {
    const def = (s as { def?: { type?: string; innerType?: unknown; in?: unknown } }).def;
    if (!def) return s;
    if (def.type === 'optional' || def.type === 'default' || def.type === 'nullable' || def.type === 'prefault')
      s = def.innerType;
    else if (def.type === 'pipe') s = def.in;
    else return s;
  }
  return s;
}

/** Reads, parses and validates a YAML file. */
export function loadYamlFile<S extends z.ZodType>(file: string, schema: S): z.infer<S> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, undefined, undefined, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return validateYaml(parseYaml(text, file), schema);
}
