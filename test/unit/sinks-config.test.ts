// Reporting keys of the watch config: accepted shapes, defaults, and unknown keys as errors
// naming file, line and key.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.js';
import { loadWatchConfig } from '../../src/config/watch-config.js';
import { auditOptions } from '../../src/sinks/reporting.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-sinkcfg-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, text);
  return f;
};

describe('watch config: reporting keys', () => {
  it('accepts every reporting section and fills defaults', () => {
    const cfg = loadWatchConfig(
      write(
        'ok.yaml',
        `output: { file: /tmp/x.ndjson, max_size: 8MB, max_backups: 3, compress: true, min_severity: warn, flush_interval_ms: 100, fsync_interval_ms: 0 }
sinks:
  stdout: { format: text }
  otlp: { endpoint: "http://127.0.0.1:4318" }
  webhook: { url: "http://127.0.0.1:9/hook", headers: { Authorization: "Bearer x" }, max_queue: 50 }
  notify: { min_severity: warn }
api: { socket: /tmp/w.sock }
http: { listen: "127.0.0.1:9464" }
`,
      ),
    );
    expect(cfg.sinks.webhook?.backoff_ms).toBe(500);
    expect(cfg.sinks.webhook?.min_severity).toBe('warn');
    expect(cfg.sinks.otlp?.service_name).toBe('warden');
    expect(cfg.sinks.notify.rate_max).toBe(10);
    expect(cfg.api.enabled).toBe(true);
    expect(cfg.http?.sse).toBe(true);
    expect(auditOptions(cfg)).toMatchObject({ maxBytes: 8 * 1024 * 1024, maxBackups: 3, compress: true, minSeverity: 'warn', fsyncIntervalMs: 0 });
  });

  it('defaults: rotation on, API on, HTTP off, stdout off', () => {
    const cfg = loadWatchConfig(undefined);
    expect(auditOptions(cfg)).toMatchObject({ maxBytes: 64 * 1024 * 1024, maxBackups: 10, compress: true });
    expect(cfg.http).toBeUndefined();
    expect(cfg.sinks.stdout).toBe(false);
  });

  it.each([
    ['sinks:\n  webhok: { url: "http://x" }\n', 'sinks.webhok', 2],
    ['sinks:\n  webhook:\n    url: "http://x"\n    retries: 3\n', 'sinks.webhook.retries', 4],
    ['api:\n  sock: /x\n', 'api.sock', 2],
    ['http:\n  listen: "127.0.0.1:1"\n  token: abc\n', 'http.token', 3],
    ['output:\n  rotate: true\n', 'output.rotate', 2],
  ])('unknown key is an error naming it: %j', (text, key, line) => {
    const f = write(`bad-${key}.yaml`, text);
    try {
      loadWatchConfig(f);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).key).toBe(key);
      expect((err as ConfigError).line).toBe(line);
    }
  });

  it('rejects a webhook URL that is not http(s) and a malformed listen address', () => {
    expect(() => loadWatchConfig(write('u.yaml', 'sinks:\n  webhook: { url: "ftp://x/y" }\n'))).toThrow(/sinks.webhook.url/);
    expect(() => loadWatchConfig(write('l.yaml', 'http:\n  listen: "9464"\n'))).toThrow(/http.listen/);
  });

  it('rejects a listen port above 65535 with file and line (it was a stack trace at start)', () => {
    const f = write('p.yaml', 'agents: []\nhttp:\n  listen: "127.0.0.1:99999"\n');
    expect(() => loadWatchConfig(f)).toThrow(ConfigError);
    expect(() => loadWatchConfig(f)).toThrow(`${f}:3: http.listen: port must be 0-65535`);
  });
});
