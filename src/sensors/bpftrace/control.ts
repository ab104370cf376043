// The control channel to the running bpftrace program: getpriority(MAGIC, pid) from the
// monitor's own pid, which the program watches (script.ts). It needs no shared map
// access, which bpftrace does not offer, and no other process can use it.
import koffi from 'koffi';
import { CTL_TRACK, CTL_UNTRACK } from './script.js';

let getpriority: ((which: number, who: number) => number) | undefined;

function fn(): (which: number, who: number) => number {
  if (!getpriority) {
    const libc = koffi.load('libc.so.6');
    getpriority = libc.func('int getpriority(int which, int who)') as (which: number, who: number) => number;
  }
  return getpriority;
}

export function ctlTrack(pid: number): void {
  fn()(CTL_TRACK, pid);
}

export function ctlUntrack(pid: number): void {
  fn()(CTL_UNTRACK, pid);
}
