// Validation of events that arrive from outside the process (replay files, API clients,
// recorded fixtures). Internal stages trust the TypeScript type and skip this cost.
import { z } from 'zod';
import { CATEGORIES, SEVERITIES, type WardenEvent } from './types.js';

const agent = z.object({ name: z.string(), root_pid: z.number().int(), session: z.string() });
const proc = z.looseObject({
  pid: z.number().int(),
  ppid: z.number().int(),
  exe: z.string(),
  argv: z.array(z.string()),
  cwd: z.string(),
  uid: z.number().int(),
});
const file = z.looseObject({ path: z.string(), op: z.string() });
const net = z.looseObject({ proto: z.string() });
const dns = z.looseObject({ query: z.string(), qtype: z.string() });

export const wardenEventSchema = z.looseObject({
  ts: z.iso.datetime({ offset: true }),
  seq: z.number().int().nonnegative(),
  kind: z.string().regex(/^[a-z0-9_]+(\.[a-z0-9_]+)+$/),
  severity: z.enum(SEVERITIES),
  rule: z.string().optional(),
  category: z.enum(CATEGORIES).optional(),
  mitre: z.array(z.string()).optional(),
  message: z.string().optional(),
  agent: agent.optional(),
  proc: proc.optional(),
  file: file.optional(),
  net: net.optional(),
  dns: dns.optional(),
});

export type ParseResult = { ok: true; event: WardenEvent } | { ok: false; error: string };

/** Parses one NDJSON line into an event; never throws. */
export function parseEventLine(line: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (err) {
    return { ok: false, error: `not JSON: ${(err as Error).message}` };
  }
  const r = wardenEventSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0];
    return { ok: false, error: `${first?.path.join('.') || '(root)'}: ${first?.message ?? 'invalid'}` };
  }
  return { ok: true, event: r.data as unknown as WardenEvent };
}
