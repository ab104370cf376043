// Lexical path handling for events: make a path absolute against a directory and remove
// "." and ".." without touching the filesystem (the file may be gone by the time the
// event is processed, and a symlink could make a resolved path lie differently).

export function normalize(p: string): string {
  if (p.indexOf('/.') < 0 && p.indexOf('//') < 0 && !p.endsWith('/') && p.startsWith('/')) return p;
  const abs = p.startsWith('/');
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!abs) out.push('..');
      continue;
    }
    out.push(seg);
  }
  const s = out.join('/');
  return abs ? `/${s}` : s || '.';
}

/** `rel` made absolute against `dir` (which must be absolute), normalised. */
export function resolveAgainst(dir: string, rel: string): string {
  if (rel.startsWith('/')) return normalize(rel);
  if (rel === '') return normalize(dir);
  return normalize(`${dir}/${rel}`);
}
