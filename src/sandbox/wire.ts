// The frames between the native launcher (native/launcher/launcher.c) and the supervisor: a
// u32 little-endian length, then NUL-terminated strings, alternately a tag and its value (a tag
// may repeat: one field per argument, variable, mount). Plain enough for a few lines of C.
export type Fields = Array<[string, string]>;

export const MAX_FRAME = 64 << 20;

export function encodeFrame(fields: Fields): Buffer {
  const body = Buffer.from(fields.map(([t, v]) => `${t}\0${v}\0`).join(''), 'utf8');
  const head = Buffer.alloc(4);
  head.writeUInt32LE(body.length);
  return Buffer.concat([head, body]);
}

export function decodeFields(body: Buffer): Fields {
  const parts = body.toString('utf8').split('\0');
  if (parts.length % 2 !== 1 || parts[parts.length - 1] !== '') throw new Error('malformed frame');
  const out: Fields = [];
  for (let i = 0; i + 1 < parts.length; i += 2) out.push([parts[i]!, parts[i + 1]!]);
  return out;
}

export const first = (f: Fields, tag: string): string | undefined => f.find(([t]) => t === tag)?.[1];
export const every = (f: Fields, tag: string): string[] => f.filter(([t]) => t === tag).map(([, v]) => v);

/** Splits a byte stream into frames: push data, get whole frames' fields back. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(data: Buffer): Fields[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    const out: Fields[] = [];
    while (this.buf.length >= 4) {
      const n = this.buf.readUInt32LE(0);
      if (n > MAX_FRAME) throw new Error(`frame of ${n} bytes`);
      if (this.buf.length < 4 + n) break;
      out.push(decodeFields(this.buf.subarray(4, 4 + n)));
      this.buf = this.buf.subarray(4 + n);
    }
    return out;
  }
}
