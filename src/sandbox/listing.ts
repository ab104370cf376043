// Directory listings a run plan is made from, each with the judge of its lister: which names made
// or removed in that directory would change the plan. The plan cache (plan-cache.ts) checks a
// listed directory whose times changed by listing it again and asking the judge, instead of
// compiling the plan again for any new file: an agent's commands create files in the workspace
// all the time, and the workspace walk (fs-plan.ts) only cares about secret names, protected
// names and directories to descend. A directory listed by anything without a judge is checked
// by its times, as before.
import fs from 'node:fs';

export interface Removed {
  name: string;
  wasDir: boolean;
}

/** Whether entries made (`added`, with their types) or gone (`removed`) since the listing leave the plan as it is. */
export type ListingJudge = (added: fs.Dirent[], removed: Removed[]) => boolean;

type Sink = (dir: string, judge: ListingJudge, entries: fs.Dirent[]) => void;
let sink: Sink | undefined;

/** fs.readdirSync(dir, { withFileTypes: true }), telling a recording plan cache how to judge later changes. */
export function listDir(dir: string, judge: ListingJudge): fs.Dirent[] {
  const entries = fs.readdirSync(dir, { withFileTypes: true });
  sink?.(dir, judge, entries);
  return entries;
}

/** Runs `f` with `s` told of every judged listing. */
export function withListings<T>(s: Sink, f: () => T): T {
  const prev = sink;
  sink = s;
  try {
    return f();
  } finally {
    sink = prev;
  }
}
