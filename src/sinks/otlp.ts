// OpenTelemetry logs over OTLP/HTTP with the JSON encoding (POST {endpoint}/v1/logs), so
// events reach an OpenTelemetry Collector and whatever store it forwards to. Written against
// the OTLP specification rather than the @opentelemetry SDK: the current exporter packages
// require Node >= 22.15, and one record per event needs no SDK machinery.
import os from 'node:os';
import type { WardenEvent } from '../events/types.js';
import { HttpDeliverySink, type HttpDeliveryOptions } from './http-delivery.js';

type AnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string }
  | { doubleValue: number }
  | { arrayValue: { values: AnyValue[] } }
  | { kvlistValue: { values: KeyValue[] } };
interface KeyValue {
  key: string;
  value: AnyValue;
}

/** OTLP SeverityNumber: INFO=9, WARN=13, ERROR=17. */
const SEVERITY_NUMBER = { info: 9, warn: 13, alert: 17 } as const;

function anyValue(v: unknown, depth = 0): AnyValue {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
  if (typeof v === 'bigint') return { intValue: v.toString() };
  if (Array.isArray(v) && depth < 4) return { arrayValue: { values: v.map((x) => anyValue(x, depth + 1)) } };
  if (v && typeof v === 'object' && depth < 4)
    return { kvlistValue: { values: Object.entries(v).filter(([, x]) => x !== undefined).map(([key, x]) => ({ key, value: anyValue(x, depth + 1) })) } };
  return { stringValue: JSON.stringify(v) ?? String(v) };
}

/** Flattens nested objects into dotted attribute keys (`warden.file.path`). */
function flatten(prefix: string, v: unknown, out: KeyValue[], depth = 0): void {
  if (v === undefined || v === null) return;
  if (typeof v === 'object' && !Array.isArray(v) && depth < 3) {
    for (const [k, x] of Object.entries(v)) flatten(`${prefix}.${k}`, x, out, depth + 1);
    return;
  }
  out.push({ key: prefix, value: anyValue(v) });
}

export function otlpLogRecord(ev: WardenEvent): Record<string, unknown> {
  const attrs: KeyValue[] = [];
  const { ts, message, severity, ...rest } = ev;
  for (const [k, v] of Object.entries(rest)) flatten(`warden.${k}`, v, attrs);
  const ms = Date.parse(ts);
  const nanos = (BigInt(Number.isNaN(ms) ? Date.now() : ms) * 1_000_000n).toString();
  return {
    timeUnixNano: nanos,
    observedTimeUnixNano: (BigInt(Date.now()) * 1_000_000n).toString(),
    severityNumber: SEVERITY_NUMBER[severity] ?? 9,
    severityText: severity.toUpperCase(),
    eventName: `warden.${ev.kind}`,
    body: { stringValue: message ?? ev.kind },
    attributes: attrs,
  };
}

export function otlpLogsBody(batch: WardenEvent[], serviceName: string): string {
  return JSON.stringify({
    resourceLogs: [
      {
        resource: {
          attributes: [
            { key: 'service.name', value: { stringValue: serviceName } },
            { key: 'host.name', value: { stringValue: os.hostname() } },
            { key: 'process.pid', value: { intValue: String(process.pid) } },
          ],
        },
        scopeLogs: [{ scope: { name: 'warden', version: process.env.npm_package_version ?? '0.1.0' }, logRecords: batch.map(otlpLogRecord) }],
      },
    ],
  });
}

/** `http://collector:4318` → `http://collector:4318/v1/logs`; a URL already ending in /v1/logs is kept. */
export function otlpLogsUrl(endpoint: string): string {
  const u = endpoint.replace(/\/+$/, '');
  return /\/v1\/logs$/.test(u) ? u : `${u}/v1/logs`;
}

export function otlpSink(opts: Omit<HttpDeliveryOptions, 'encode' | 'name' | 'url'> & { endpoint: string; serviceName?: string }): HttpDeliverySink {
  const service = opts.serviceName ?? 'warden';
  return new HttpDeliverySink({
    name: 'otlp',
    url: otlpLogsUrl(opts.endpoint),
    ...opts,
    encode: (batch) => ({ contentType: 'application/json', body: otlpLogsBody(batch, service) }),
  });
}
