// Reading and writing cgroup interface files: numbers, flat-keyed files (`key value` lines),
// word lists. A missing file reads as undefined (the kernel or hierarchy does not offer it).
import fs from 'node:fs';
import path from 'node:path';

export function readWords(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

export function readKv(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const [k, v] = line.split(/\s+/);
      if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
    }
  } catch {
    /* missing file: stat not available */
  }
  return out;
}

/** A number, or undefined (missing file, `max`, anything else). */
export function readNum(file: string): number | undefined {
  try {
    const s = fs.readFileSync(file, 'utf8').trim();
    return /^\d+$/.test(s) ? Number(s) : undefined;
  } catch {
    return undefined;
  }
}

export function writable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export function w(dir: string, file: string, value: string): void {
  fs.writeFileSync(path.join(dir, file), value);
}

/** Writes an optional knob; false when the kernel does not offer it or refuses the value. */
export function tryW(dir: string, file: string, value: string): boolean {
  try {
    w(dir, file, value);
    return true;
  } catch {
    return false;
  }
}

export function procsOf(dir: string): number[] {
  try {
    return fs
      .readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Subdirectories (child cgroups) of a cgroup directory. */
export function childDirs(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => path.join(dir, d.name));
  } catch {
    return [];
  }
}

/** Every process of a cgroup and its descendants (bounded depth). */
export function procsDeep(dir: string, depth = 8): number[] {
  const out = procsOf(dir);
  if (depth > 0) for (const c of childDirs(dir)) out.push(...procsDeep(c, depth - 1));
  return out;
}
