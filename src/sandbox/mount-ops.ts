// The mount operations a sandbox plan is made of, in bwrap's order (bwrap.ts renders them).
export type MountOp =
  | { op: 'ro-bind' | 'bind'; src: string; dest: string }
  | { op: 'bind-fd'; fd: number; dest: string }
  | { op: 'tmpfs'; dest: string; readOnly?: boolean }
  | { op: 'devnull'; dest: string }
  | { op: 'symlink'; target: string; dest: string }
  | { op: 'remount-ro'; dest: string }
  /** An empty directory made in a tmpfs laid before it (no mount of its own). */
  | { op: 'dir'; dest: string };
