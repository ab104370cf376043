// Event filters (API, SSE, `warden events`), sizes, OTLP URL and backup naming.
import { describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { backupPath, msOfStamp, stampOf } from '../../src/sinks/audit-files.js';
import { compileFilter, FilterError, parseFilter, parseTime } from '../../src/sinks/filter.js';
import { otlpLogsUrl } from '../../src/sinks/otlp.js';
import { parseSize } from '../../src/util/size.js';

const e = (x: Partial<WardenEvent>): WardenEvent => ({ ts: '2026-01-01T00:00:00.000Z', seq: 1, kind: 'file.open', severity: 'info', ...x });

describe('filters', () => {
  it('parses relative, ISO and epoch times; rejects nonsense', () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    expect(parseTime('10m', now)).toBe(now - 600_000);
    expect(parseTime('2026-01-01T00:00:00Z', now)).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(parseTime('1767225600000', now)).toBe(1767225600000);
    expect(() => parseTime('soon', now)).toThrow(FilterError);
    expect(() => parseFilter({ severity: 'high' })).toThrow(FilterError);
  });

  it('matches kind families, globs, agents by name/session/pid, rules incl. also[]', () => {
    const agent = { name: 'claude', root_pid: 42, session: 'claude-42-1' };
    const m = (f: Record<string, unknown>, ev: WardenEvent) => compileFilter(parseFilter(f))(ev);
    expect(m({ kind: 'file' }, e({}))).toBe(true);
    expect(m({ kind: 'file' }, e({ kind: 'filex.open' }))).toBe(false);
    expect(m({ kind: 'net.*' }, e({ kind: 'net.dns' }))).toBe(true);
    expect(m({ agent: 'claude' }, e({ agent }))).toBe(true);
    expect(m({ agent: '42' }, e({ agent }))).toBe(true);
    expect(m({ agent: 'claude-42-1' }, e({ agent }))).toBe(true);
    expect(m({ agent: 'codex' }, e({ agent }))).toBe(false);
    expect(m({ agent: 'claude' }, e({}))).toBe(false);
    expect(m({ rule: 'secret.*' }, e({ rule: 'persist.x', also: ['secret.ssh'] }))).toBe(true);
    expect(m({ severity: 'warn' }, e({ severity: 'info' }))).toBe(false);
    expect(m({ severity: 'warn' }, e({ severity: 'alert' }))).toBe(true);
    expect(m({ since: '2026-01-01T00:00:00.001Z' }, e({}))).toBe(false);
    expect(m({ until: '2026-01-01T00:00:00.001Z' }, e({}))).toBe(true);
  });
});

describe('helpers', () => {
  it('sizes, OTLP URLs and backup stamps', () => {
    expect(parseSize('64MB')).toBe(64 * 1024 * 1024);
    expect(parseSize('1.5GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseSize(4096)).toBe(4096);
    expect(() => parseSize('lots')).toThrow();
    expect(otlpLogsUrl('http://c:4318/')).toBe('http://c:4318/v1/logs');
    expect(otlpLogsUrl('http://c:4318/v1/logs')).toBe('http://c:4318/v1/logs');
    const ms = Date.parse('2026-02-03T04:05:06.789Z');
    expect(stampOf(ms)).toBe('20260203T040506.789Z');
    expect(msOfStamp(stampOf(ms))).toBe(ms);
    expect(backupPath('/v/events.ndjson', ms)).toBe('/v/events-20260203T040506.789Z.ndjson');
  });
});
