// OTLP export as the Kubernetes DaemonSet ships it: `warden watch` with the watch.yaml of
// deploy/kubernetes/watch-daemonset.yaml (only the collector's address and the log path
// changed) sends its events to an OTLP/HTTP receiver on loopback. What arrives is decoded with
// the OpenTelemetry protocol's own message definitions (the generated classes of
// @opentelemetry/otlp-transformer, not Warden's encoder): an ExportLogsServiceRequest whose
// every field is one the protocol defines (it survives a protobuf encode/decode unchanged), with
// the agent's secret read as an ERROR-severity record carrying the rule.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { readEvents, REPO, WARDEN } from './helpers/warden-run.js';

const root = process.getuid?.() === 0;
const require = createRequire(import.meta.url);

interface PbType {
  fromObject(o: unknown): unknown;
  encode(m: unknown): { finish(): Uint8Array };
  decode(b: Uint8Array): unknown;
  toObject(m: unknown, o: Record<string, unknown>): Record<string, unknown>;
}
const otlp = require('@opentelemetry/otlp-transformer/build/src/generated/root.js') as { opentelemetry: { proto: { collector: { logs: { v1: { ExportLogsServiceRequest: PbType } } } } } };
const Request = otlp.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;

/** The OTLP/JSON body as the protocol reads it; throws if a field is not the protocol's. */
function decode(body: string): Record<string, unknown> {
  const json = JSON.parse(body) as Record<string, unknown>;
  const msg = Request.fromObject(json);
  const back = Request.toObject(Request.decode(Request.encode(msg).finish()), { longs: String, enums: Number, bytes: String, defaults: false, arrays: true });
  // Unknown fields are dropped by fromObject: equality means every field is defined by OTLP
  // (an empty repeated field and an absent one are the same message).
  expect(noEmptyLists(back)).toEqual(noEmptyLists(json));
  return back;
}

function noEmptyLists(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(noEmptyLists);
  if (!v || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).filter(([, x]) => !(Array.isArray(x) && x.length === 0)).map(([k, x]) => [k, noEmptyLists(x)]));
}

interface KV {
  key: string;
  value: Record<string, unknown>;
}
interface Rec {
  severityNumber: number;
  severityText: string;
  eventName?: string;
  body: { stringValue: string };
  attributes: KV[];
}

let dir: string;
let receiver: http.Server;
let watch: ChildProcess | undefined;
const requests: Array<{ path: string; type: string; body: string }> = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-otlp-'));
  fs.chmodSync(dir, 0o755);
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      requests.push({ path: req.url ?? '', type: req.headers['content-type'] ?? '', body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
});

afterAll(async () => {
  if (watch && watch.exitCode === null) watch.kill('SIGKILL');
  receiver?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The DaemonSet's watch.yaml, pointed at this receiver and a log of the test's. */
function daemonSetConfig(port: number, log: string): string {
  const docs = parseAllDocuments(fs.readFileSync(path.join(REPO, 'deploy/kubernetes/watch-daemonset.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string; data?: Record<string, string> });
  const text = docs.find((d) => d.kind === 'ConfigMap')!.data!['watch.yaml']!;
  const out = text
    .replace(/endpoint: "[^"]+"/, `endpoint: "http://127.0.0.1:${port}"`)
    .replace(/file: \/var\/lib\/warden\/events\.ndjson/, `file: ${log}`)
    .replace(/listen: "0\.0\.0\.0:9464"/, 'listen: "127.0.0.1:0"');
  expect(out).not.toBe(text);
  return `${out}sensor:\n  persist: false\n  respawn: false\n`;
}

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!root)("OTLP export, with the DaemonSet's config, into a receiver decoding with the OTLP definitions", () => {
  it('the agent, its secret read as an ERROR record with the rule, every field one OTLP defines', async () => {
    const log = path.join(dir, 'events.ndjson');
    const cfg = path.join(dir, 'watch.yaml');
    const port = (receiver.address() as { port: number }).port;
    fs.writeFileSync(cfg, daemonSetConfig(port, log));
    let stderr = '';
    watch = spawn(WARDEN, ['watch', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    watch.stdout!.on('data', (d) => (stdout += d));
    watch.stderr!.on('data', (d) => (stderr += d));
    await until('monitor.ready', () => fs.existsSync(log) && readEvents(log).some((e) => e.kind === 'monitor.ready'), 60_000).catch((e) => {
      throw new Error(`${(e as Error).message}\n${stderr}`);
    });
    const home = path.join(dir, 'home');
    fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
    fs.writeFileSync(path.join(home, '.ssh', 'id_ed25519'), '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n');
    const agent = spawnSync('bash', ['-c', `exec -a claude bash -c 'cat ${home}/.ssh/id_ed25519 >/dev/null; sleep 0.3'`], { env: { ...process.env, HOME: home }, timeout: 10_000 });
    expect(agent.status).toBe(0);
    const records = (): Rec[] =>
      requests.flatMap((r) => ((decode(r.body).resourceLogs as Array<{ scopeLogs: Array<{ logRecords: Rec[] }> }>) ?? []).flatMap((rl) => rl.scopeLogs.flatMap((s) => s.logRecords)));
    const attr = (r: Rec, k: string) => r.attributes.find((a) => a.key === k)?.value;
    const secretRead = (r: Rec) => r.severityNumber === 17 && String(attr(r, 'warden.file.path')?.stringValue ?? '').endsWith('/.ssh/id_ed25519');
    await until('the secret read at the receiver', () => records().some(secretRead)).catch((e) => {
      throw new Error(`${(e as Error).message}\nreceived ${requests.length} requests\n${stderr}`);
    });
    watch.kill('SIGINT');
    await new Promise((r) => watch!.once('exit', r));

    expect(requests.every((r) => r.path === '/v1/logs' && r.type.startsWith('application/json'))).toBe(true);
    const first = decode(requests[0]!.body) as { resourceLogs: Array<{ resource: { attributes: KV[] }; scopeLogs: Array<{ scope: { name: string } }> }> };
    expect(first.resourceLogs[0]!.resource.attributes).toContainEqual({ key: 'service.name', value: { stringValue: 'warden' } });
    expect(first.resourceLogs[0]!.scopeLogs[0]!.scope.name).toBe('warden');
    const all = records();
    const alert = all.find(secretRead)!;
    expect(alert.severityText).toBe('ALERT');
    expect(alert.eventName).toBe('warden.file.open');
    expect(attr(alert, 'warden.severity')).toBeUndefined(); // carried by severityNumber
    expect(attr(alert, 'warden.rule')?.stringValue).toMatch(/\S/);
    expect(attr(alert, 'warden.agent.name')).toEqual({ stringValue: 'claude' });
    expect(all.some((r) => r.eventName === 'warden.monitor.ready' && r.severityNumber === 9)).toBe(true);
    // The same events on stdout (the node's log collector) as NDJSON.
    expect(stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string }).some((e) => e.kind === 'monitor.ready')).toBe(true);
  });
});
