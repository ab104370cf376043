// Sizes as written in config files ("512MB", "2GiB", "64k", 1048576) to bytes. K/M/G/T are
// powers of 1024 whether or not an "i" is written: that is what users mean for files and memory.
export function parseSize(v: number | string): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i.exec(v.trim());
  if (!m) throw new Error(`invalid size: ${JSON.stringify(v)}`);
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  return Math.round(Number(m[1]) * mult);
}
