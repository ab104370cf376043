// Length-preserving replacement of byte strings in a stream (surrogate ↔ real value). Every
// pair has equal lengths, so framing (Content-Length, chunk sizes, WebSocket frame lengths)
// never changes; the transform holds back at most the longest pattern minus one byte so a
// value split across two chunks is still found.
import { Transform, type TransformCallback } from 'node:stream';

export interface Pair {
  from: Buffer;
  to: Buffer;
  /** Reported when it matched. */
  name: string;
}

/** Replaces every occurrence of each `from` in `buf` in place; counts per name. */
export function replaceAll(buf: Buffer, pairs: readonly Pair[], counts?: Map<string, number>): number {
  let n = 0;
  for (const p of pairs) {
    let i = buf.indexOf(p.from);
    while (i >= 0) {
      p.to.copy(buf, i);
      n++;
      counts?.set(p.name, (counts.get(p.name) ?? 0) + 1);
      i = buf.indexOf(p.from, i + p.from.length);
    }
  }
  return n;
}

/** The length of the longest tail of `buf` that is the start of some `from` (a match may continue there). */
export function partialTail(buf: Buffer, pairs: readonly Pair[]): number {
  let hold = 0;
  for (const p of pairs) {
    const max = Math.min(p.from.length - 1, buf.length);
    for (let k = max; k > hold; k--) {
      if (buf[buf.length - k] === p.from[0] && buf.subarray(buf.length - k).equals(p.from.subarray(0, k))) {
        hold = k;
        break;
      }
    }
  }
  return hold;
}

/**
 * A transform stream applying replaceAll across chunk boundaries. Only a tail that could be
 * the start of a value is held back, and only until the next chunk or `holdMs` of silence
 * (interactive streams — WebSocket, server-sent events — must not stall on it).
 */
export class ReplaceStream extends Transform {
  private carry: Buffer = Buffer.alloc(0);
  private timer: NodeJS.Timeout | undefined;
  readonly counts = new Map<string, number>();

  constructor(
    private readonly pairs: readonly Pair[],
    private readonly holdMs = 50,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (!this.pairs.length) return cb(null, chunk);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : Buffer.from(chunk);
    replaceAll(buf, this.pairs, this.counts);
    const hold = partialTail(buf, this.pairs);
    const cut = buf.length - hold;
    this.carry = buf.subarray(cut);
    if (hold)
      this.timer = setTimeout(() => {
        this.timer = undefined;
        const c = this.carry;
        this.carry = Buffer.alloc(0);
        if (c.length) this.push(c);
      }, this.holdMs);
    cb(null, cut > 0 ? buf.subarray(0, cut) : undefined);
  }

  override _flush(cb: TransformCallback): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    cb(null, this.carry.length ? this.carry : undefined);
  }

  override _destroy(err: Error | null, cb: (e: Error | null) => void): void {
    if (this.timer) clearTimeout(this.timer);
    cb(err);
  }

  get total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }
}
