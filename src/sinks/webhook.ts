// Webhook sink: POSTs batches of events as JSON `{"source":"warden","events":[...]}` to a URL,
// with retry, backoff and a bounded queue (http-delivery.ts). Default: warn and above.
import type { WardenEvent } from '../events/types.js';
import { HttpDeliverySink, type HttpDeliveryOptions } from './http-delivery.js';

export function webhookSink(opts: Omit<HttpDeliveryOptions, 'encode' | 'name'> & { name?: string }): HttpDeliverySink {
  return new HttpDeliverySink({
    name: opts.name ?? 'webhook',
    ...opts,
    encode: (batch: WardenEvent[]) => ({ contentType: 'application/json', body: JSON.stringify({ source: 'warden', events: batch }) }),
  });
}
