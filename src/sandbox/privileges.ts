// A process's privileges as the kernel reports them (/proc/PID/status): capability sets,
// no_new_privs, ids, seccomp mode. Read to verify a drop, never to decide one.

export interface Privileges {
  caps: Record<string, bigint>;
  nnp: boolean;
  uids: number[];
  gids: number[];
  groups: number[];
  /** 0 none, 1 strict, 2 filter. */
  seccomp: number;
}

/** The process's capability sets and no_new_privs flag, from /proc/self/status. */
export function privileges(status: string): Privileges {
  const get = (k: string) => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
  const caps: Record<string, bigint> = {};
  for (const k of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) caps[k] = BigInt(`0x${get(k) || '0'}`);
  const nums = (k: string) => get(k).split(/\s+/).filter(Boolean).map(Number);
  return { caps, nnp: get('NoNewPrivs') === '1', uids: nums('Uid'), gids: nums('Gid'), groups: nums('Groups'), seccomp: Number(get('Seccomp') || 0) };
}

