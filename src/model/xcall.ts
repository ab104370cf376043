// Calls that reach another process's files, memory or terminal, or make another view of the file
// system (open_by_handle_at, pidfd_getfd, process_vm_*, the mount family, ioctl TIOCSTI): the
// compiled sensor records them at entry with their raw arguments; this turns one into the data
// of a `process.syscall` event, paths made absolute so that rules can compare them with the
// secret lists (an overlay whose lowerdir is ~/.ssh is a second name for the keys).
import type { RawRecord } from '../sensors/raw.js';

export type XcallRec = Extract<RawRecord, { t: 'xcall' }>;

const CALLS: Record<number, string> = {
  16: 'ioctl',
  165: 'mount',
  303: 'name_to_handle_at',
  304: 'open_by_handle_at',
  310: 'process_vm_readv',
  311: 'process_vm_writev',
  428: 'open_tree',
  429: 'move_mount',
  430: 'fsopen',
  431: 'fsconfig',
  432: 'fsmount',
  438: 'pidfd_getfd',
};

/** The paths an overlay, bind or other mount option names (lowerdir=a:b,upperdir=c,workdir=d). */
export function optionPaths(options: string): string[] {
  const out: string[] = [];
  for (const opt of options.split(',')) {
    const eq = opt.indexOf('=');
    if (eq < 0) continue;
    for (const p of opt.slice(eq + 1).split(':')) if (p) out.push(p);
  }
  return out;
}

/**
 * The event data of one call. `abs` makes a path argument absolute (against the process's cwd);
 * `paths` collects every path the call names, for the rules (data.paths).
 */
export function xcallData(r: XcallRec, abs: (p: string) => string): { call: string; data: Record<string, unknown>; message: string } {
  const call = CALLS[r.nr] ?? `syscall_${r.nr}`;
  const [a0, a1] = r.args;
  const s = r.strs;
  const data: Record<string, unknown> = { call, args: r.args };
  const paths: string[] = [];
  const path = (p: string | undefined) => {
    if (!p) return undefined;
    const a = abs(p);
    paths.push(a);
    return a;
  };
  switch (call) {
    case 'ioctl':
      Object.assign(data, { fd: a0, request: 'TIOCSTI' });
      break;
    case 'mount': {
      const options = s[3] ?? '';
      Object.assign(data, { source: s[0]?.startsWith('/') || s[0]?.startsWith('.') ? path(s[0]) : s[0], target: path(s[1]), fstype: s[2], options, flags: r.args[3] });
      for (const p of optionPaths(options)) path(p);
      break;
    }
    case 'name_to_handle_at':
    case 'open_tree':
      Object.assign(data, { dfd: a0, path: path(s[0]) });
      break;
    case 'open_by_handle_at':
      Object.assign(data, { mount_fd: a0, flags: r.args[2] });
      break;
    case 'move_mount':
      Object.assign(data, { from: s[0] ? path(s[0]) : undefined, to: s[1] ? path(s[1]) : undefined });
      break;
    case 'fsopen':
      Object.assign(data, { fstype: s[0] });
      break;
    case 'fsconfig':
      Object.assign(data, { key: s[0], value: s[1] });
      if (s[0] && s[1] && /dir$|^source$/.test(s[0])) for (const p of s[1].split(':')) path(p);
      break;
    case 'process_vm_readv':
    case 'process_vm_writev':
      Object.assign(data, { target_pid: a0 });
      break;
    case 'pidfd_getfd':
      Object.assign(data, { pidfd: a0, target_fd: a1 });
      break;
  }
  if (paths.length) data.paths = paths;
  const what = paths.length ? ` ${paths.join(' ')}` : data.target_pid !== undefined ? ` pid ${String(data.target_pid)}` : '';
  return { call, data, message: `${call}${call === 'ioctl' ? '(TIOCSTI)' : ''}${what}` };
}
