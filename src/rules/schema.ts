// Schema of rule files (rules/default/*.yaml and user files). Unknown keys are errors so
// a misspelt key never silently changes what a rule does. Semantic checks (CEL, fields,
// kinds, overrides) happen in loader.ts/compile.ts with the same file:line reporting.
import { z } from 'zod';
import { CATEGORIES, SEVERITIES } from '../events/types.js';

const id = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, 'ids are letters, digits, _ . - (starting with a letter)')
  .refine((s) => !s.startsWith('warden.'), 'ids starting with "warden." are reserved for events Warden itself raises');
const mitre = z.array(z.string().regex(/^T\d{4}(\.\d{3})?$/, 'MITRE technique ids look like T1552 or T1552.001'));
const window = z.union([
  z.number().positive(),
  z.string().regex(/^\d+(\.\d+)?\s*(ms|s|m|h)?$/, 'expected a duration like 30, 30s, 5m or 1h'),
]);
export const RULE_ACTIONS = ['kill', 'kill_session', 'freeze', 'deny'] as const;
const action = z.enum(RULE_ACTIONS);
export type RuleAction = (typeof RULE_ACTIONS)[number];
const mode = z.enum(['append', 'replace']);

export const exceptionSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  fields: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
  comps: z.union([z.string(), z.array(z.string())]).optional(),
  values: z.array(z.unknown()).default([]),
});

export const listSchema = z.strictObject({
  name: id,
  description: z.string().optional(),
  items: z.array(z.union([z.string(), z.number()])).default([]),
  override: z.strictObject({ items: mode }).optional(),
});

export const macroSchema = z.strictObject({
  name: id,
  description: z.string().optional(),
  condition: z.string().optional(),
  override: z.strictObject({ condition: mode }).optional(),
});

const ruleOverride = z.strictObject({
  description: z.literal('replace').optional(),
  kinds: mode.optional(),
  condition: mode.optional(),
  severity: z.literal('replace').optional(),
  category: z.literal('replace').optional(),
  mitre: mode.optional(),
  output: z.literal('replace').optional(),
  exceptions: mode.optional(),
  known_safe_for: mode.optional(),
  action: z.literal('replace').optional(),
  enabled: z.literal('replace').optional(),
  tags: mode.optional(),
});

/** Where an imported rule comes from (warden rules import-sigma): kept for licences such as the DRL. */
export const originSchema = z.strictObject({
  format: z.string(),
  id: z.string().optional(),
  title: z.string().optional(),
  author: z.string().optional(),
  references: z.array(z.string()).optional(),
  date: z.string().optional(),
  modified: z.string().optional(),
  status: z.string().optional(),
  level: z.string().optional(),
  falsepositives: z.array(z.string()).optional(),
  license: z.string().optional(),
  file: z.string().optional(),
});

export const ruleSchema = z.strictObject({
  id,
  description: z.string().optional(),
  kinds: z.array(z.string()).optional(),
  condition: z.string().optional(),
  severity: z.enum(SEVERITIES).optional(),
  category: z.enum(CATEGORIES).optional(),
  mitre: mitre.optional(),
  output: z.string().optional(),
  exceptions: z.array(exceptionSchema).optional(),
  known_safe_for: z.array(z.string()).optional(),
  action: action.optional(),
  enabled: z.boolean().optional(),
  tags: z.array(z.string()).optional(),
  /** Change some keys of an existing rule (Falco-style). */
  override: ruleOverride.optional(),
  /** Redefine an existing rule entirely. */
  replace: z.boolean().optional(),
  origin: originSchema.optional(),
});

export const stepSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9_]*$/, 'step names are lower_snake_case'),
  kinds: z.array(z.string()).optional(),
  rules: z.array(z.string()).optional(),
  condition: z.string().optional(),
  key: z.string().optional(),
});

const sequenceOverride = z.strictObject({
  description: z.literal('replace').optional(),
  severity: z.literal('replace').optional(),
  category: z.literal('replace').optional(),
  mitre: mode.optional(),
  output: z.literal('replace').optional(),
  window: z.literal('replace').optional(),
  known_safe_for: mode.optional(),
  action: z.literal('replace').optional(),
  enabled: z.literal('replace').optional(),
  tags: mode.optional(),
});

export const sequenceSchema = z.strictObject({
  id,
  description: z.string().optional(),
  window: window.optional(),
  ordered: z.boolean().optional(),
  steps: z.array(stepSchema).min(2).max(8).optional(),
  severity: z.enum(SEVERITIES).optional(),
  category: z.enum(CATEGORIES).optional(),
  mitre: mitre.optional(),
  output: z.string().optional(),
  known_safe_for: z.array(z.string()).optional(),
  action: action.optional(),
  enabled: z.boolean().optional(),
  tags: z.array(z.string()).optional(),
  override: sequenceOverride.optional(),
  replace: z.boolean().optional(),
});

const thresholdOverride = z.strictObject({
  description: z.literal('replace').optional(),
  condition: mode.optional(),
  severity: z.literal('replace').optional(),
  category: z.literal('replace').optional(),
  mitre: mode.optional(),
  output: z.literal('replace').optional(),
  window: z.literal('replace').optional(),
  count: z.literal('replace').optional(),
  known_safe_for: mode.optional(),
  action: z.literal('replace').optional(),
  enabled: z.literal('replace').optional(),
  tags: mode.optional(),
});

export const thresholdSchema = z.strictObject({
  id,
  description: z.string().optional(),
  kinds: z.array(z.string()).optional(),
  condition: z.string().optional(),
  group_by: z.string().optional(),
  distinct: z.string().optional(),
  count: z.number().int().min(2).max(100000).optional(),
  window: window.optional(),
  severity: z.enum(SEVERITIES).optional(),
  category: z.enum(CATEGORIES).optional(),
  mitre: mitre.optional(),
  output: z.string().optional(),
  known_safe_for: z.array(z.string()).optional(),
  action: action.optional(),
  enabled: z.boolean().optional(),
  tags: z.array(z.string()).optional(),
  override: thresholdOverride.optional(),
  replace: z.boolean().optional(),
});

export const ruleFileSchema = z.strictObject({
  lists: z.array(listSchema).default([]),
  macros: z.array(macroSchema).default([]),
  rules: z.array(ruleSchema).default([]),
  sequences: z.array(sequenceSchema).default([]),
  thresholds: z.array(thresholdSchema).default([]),
});

export type RuleFile = z.infer<typeof ruleFileSchema>;
export type RuleDef = z.infer<typeof ruleSchema>;
export type SequenceDef = z.infer<typeof sequenceSchema>;
export type ThresholdDef = z.infer<typeof thresholdSchema>;
export type ExceptionDef = z.infer<typeof exceptionSchema>;
export type ListDef = z.infer<typeof listSchema>;
export type MacroDef = z.infer<typeof macroSchema>;

/** Parses a window (seconds, or "30s", "5m", "1h", "500ms") into milliseconds. */
export function windowMs(w: number | string): number {
  if (typeof w === 'number') return w * 1000;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(w.trim())!;
  const n = Number(m[1]);
  switch (m[2]) {
    case 'ms':
      return n;
    case 'm':
      return n * 60_000;
    case 'h':
      return n * 3_600_000;
    default:
      return n * 1000;
  }
}
