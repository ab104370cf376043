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

/** A transform stream applying replaceAll across chunk boundaries. */
export class ReplaceStream extends Transform {
  private carry: Buffer = Buffer.alloc(0);
  private readonly keep: number;
  readonly counts = new Map<string, number>();

  constructor(private readonly pairs: readonly Pair[]) {
    super();
    this.keep = Math.max(0, ...pairs.map((p) => p.from.length - 1));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (!this.pairs.length) return cb(null, chunk);
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : Buffer.from(chunk);
    replaceAll(buf, this.pairs, this.counts);
    // What could still be the start of a match stays for the next chunk. A match is never
    // inside the carry (it would have been replaced above), only possibly across its end.
    const cut = Math.max(0, buf.length - this.keep);
    this.carry = buf.subarray(cut);
    cb(null, cut > 0 ? buf.subarray(0, cut) : undefined);
  }

  override _flush(cb: TransformCallback): void {
    cb(null, this.carry.length ? this.carry : undefined);
  }

  get total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }
}
