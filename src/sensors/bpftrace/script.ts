// Generates the bpftrace program of the kernel sensor. Tracepoints only (this class of
// kernel has no kprobes). In-kernel filtering: @t holds the tracked pids (agent roots
// and their descendants, extended on fork), so only agents' subtrees cost anything.
//
// Output framing (parsed by parser.ts): one record per printf, fields separated by \x1f,
// every record ends with "\x1f" + a random per-run token. A record carries at most one
// user-controlled string and it is always the last field, so a path containing \n or
// \x1f can neither forge records nor shift fields: a line that does not end with the
// token is a fragment of a record whose string contained a newline.
//
// bpftrace 0.17 keeps strings on the 512-byte BPF stack (BPFTRACE_STRLEN <= 200), and
// every printf with a string costs ~200 bytes of it, so work that needs more than one
// string is split into several programs on the same tracepoint; they run in the order
// written here. Strings longer than 199 bytes are sent as continuation records.
import fs from 'node:fs';
import os from 'node:os';

export const STRLEN = 200;
/** Characters str() yields at most with STRLEN 200. */
export const STR_MAX = STRLEN - 1;
/** getpriority(which=MAGIC, who=pid) from the monitor's own pid is the control channel. */
export const CTL_TRACK = 0x57410001;
export const CTL_UNTRACK = 0x57410002;
export const MAX_ARGS = 64;
export const MAX_CONT = 5;

export interface ScriptOptions {
  token: string;
  /** The monitor's pid: only it may use the control channel, and it is never traced. */
  monitorPid: number;
  /** pids to track from the start (known agent trees). */
  seeds: number[];
  /** comm values (<=15 chars) that make an untracked exec a provisional candidate. */
  candidateComms: string[];
  /** comm prefixes (e.g. "python") that make an exec a candidate. */
  candidatePrefixes: string[];
  /** comm values that, when a process renames itself to them, make it a candidate. */
  renameComms: string[];
  /** Report failed opens too (default: only success and EACCES/EPERM). */
  failedOpens: boolean;
  /**
   * Fold consecutive identical opens (same process, same file by device and inode, same
   * flags) within this many ms into a count instead of one record each; 0 = report every
   * open. The first open of a run is always reported at once.
   */
  foldOpensMs: number;
  /**
   * cgroup v2 directories whose every process is tracked from its first fork or exec
   * (sandboxes: the launcher joins the cgroup before anything in it runs, so nothing races).
   */
  trackCgroups?: string[];
  /** Tracepoints that exist on this kernel ("syscalls:sys_enter_open"...). */
  available?: (tp: string) => boolean;
}

const TRACEFS = '/sys/kernel/tracing/events';

export function tracepointExists(tp: string): boolean {
  const [cat, name] = tp.split(':');
  return fs.existsSync(`${TRACEFS}/${cat}/${name}`);
}

/** Whether sched_process_exit carries group_dead (6.x); older kernels use signal->live. */
/** References to open file `$f` in bpftrace: 6.13 made f_count a file_ref_t whose counter is one less. */
export function fileRefsExpr(f: string, release = os.release()): string {
  const [maj, min] = release.split('.').map((n) => parseInt(n, 10));
  const fileRef = (maj ?? 0) > 6 || ((maj ?? 0) === 6 && (min ?? 0) >= 13);
  return fileRef ? `(${f}->f_ref.refcnt.counter + 1)` : `${f}->f_count.counter`;
}

export function exitHasGroupDead(): boolean {
  try {
    return fs.readFileSync(`${TRACEFS}/sched/sched_process_exit/format`, 'utf8').includes('group_dead');
  } catch {
    return false;
  }
}

function quote(s: string): string {
  return `"${s.replace(/[^A-Za-z0-9_.\-+@]/g, '')}"`;
}

export interface GeneratedScript {
  text: string;
  /** Tracepoints skipped because this kernel lacks them. */
  missing: string[];
}

export function generateScript(o: ScriptOptions): GeneratedScript {
  const has = o.available ?? tracepointExists;
  const missing: string[] = [];
  const T = `\\x1f${o.token}\\n`;
  const S = '\\x1f';
  const out: string[] = [];
  const TR = '@t[pid]';
  const tp = (name: string) => `tracepoint:${name}`;
  const need = (name: string) => {
    if (has(name)) return true;
    missing.push(name);
    return false;
  };
  /** A probe on several tracepoints, keeping those that exist. */
  const probe = (names: string[], pred: string, body: string) => {
    const ok = names.filter(need);
    if (ok.length === 0) return;
    out.push(`${ok.map(tp).join(',\n')}${pred ? ` /${pred}/` : ''} {\n${body}\n}`);
  };
  /**
   * Continuation records for a string at `ptr` longer than STR_MAX, printed before the
   * record that owns it. Whether a string is longer is guessed from the byte at its last
   * position: when a shorter string is followed by non-zero memory this prints a spurious
   * continuation, which the parser drops (it only appends to pieces of full length).
   */
  const cont = (ptr: string, field: string) => `  $cp = (uint64)(${ptr}); $ci = 1;
  while ($ci <= ${MAX_CONT}) {
    if (*(uint8*)($cp + $ci * ${STR_MAX} - 1) == 0) { break; }
    printf("+${S}%d${S}%d${S}%d${S}%s${T}", tid, ${field}, $ci, str($cp + $ci * ${STR_MAX}));
    $ci++;
  }
`;

  const seeds = o.seeds.filter((p) => p !== o.monitorPid).map((p) => `  @t[${p}] = 1;`).join('\n');
  out.push(`BEGIN {\n  @t[0] = 0; delete(@t[0]); @sk[0] = 0; delete(@sk[0]);\n${seeds ? seeds + "\n" : ""}  printf("^${S}1${T}");\n}`);

  // Control channel: only the monitor itself can add or remove tracked pids.
  probe(
    ['syscalls:sys_enter_getpriority'],
    `pid == ${o.monitorPid}`,
    `  if (args->which == ${CTL_TRACK}) { @t[args->who] = 1; printf("!${S}1${S}%d${T}", args->who); }
  if (args->which == ${CTL_UNTRACK}) { delete(@t[args->who]); printf("!${S}2${S}%d${T}", args->who); }`,
  );

  // ---- processes -------------------------------------------------------------------
  // Fork: track the new task at once (parent context, before the child can run), then the
  // child's own return from clone tells a process (pid == tid) from a thread.
  const inCg = (o.trackCgroups ?? []).map((c) => `cgroup == cgroupid(${JSON.stringify(c)})`);
  const forkPred = inCg.length ? `(${TR} || ${inCg.join(' || ')})` : TR;
  probe(['sched:sched_process_fork'], `${forkPred} && pid != ${o.monitorPid}`, `  @t[args->child_pid] = @t[pid] ? @t[pid] : 1;`);
  probe(
    ['syscalls:sys_exit_clone', 'syscalls:sys_exit_clone3', 'syscalls:sys_exit_fork', 'syscalls:sys_exit_vfork'],
    `args->ret == 0 && @t[tid]`,
    `  if (pid != tid) { delete(@t[tid]); }
  else { printf("F${S}%llu${S}%d${S}%d${T}", nsecs, pid, curtask->real_parent->tgid); }`,
  );

  // exec: flag every exec in flight (so the rename that exec itself causes is not reported),
  // and for tracked processes record argv and LD_PRELOAD while the old image still exists.
  probe(['syscalls:sys_enter_execve', 'syscalls:sys_enter_execveat'], '', `  @ix[tid] = 1;`);
  probe(
    ['syscalls:sys_enter_execve', 'syscalls:sys_enter_execveat'],
    TR,
    `  $i = 0;
  while ($i < ${MAX_ARGS}) {
    $a = *(args->argv + $i);
    if ($a == 0) { break; }
    printf("A${S}%d${S}%d${S}%s${T}", tid, $i, str($a));
    if (*(uint8*)($a + ${STR_MAX - 1}) != 0) { @al[tid] = 1; }
    $i++;
  }
  if ($i == ${MAX_ARGS} && *(args->argv + $i) != 0) { printf("a${S}%d${T}", tid); }`,
  );
  // Arguments longer than one string: continuation records, field 100 + argument index.
  // (The byte test can be fooled into a spurious record by what follows a short argument
  // in memory; the parser ignores continuations of pieces shorter than STR_MAX.)
  probe(
    ['syscalls:sys_enter_execve', 'syscalls:sys_enter_execveat'],
    '@al[tid]',
    `  $i = 0;
  while ($i < ${MAX_ARGS}) {
    $a = (uint64)*(args->argv + $i);
    if ($a == 0) { break; }
    $k = 1;
    while ($k <= ${MAX_CONT}) {
      if (*(uint8*)($a + $k * ${STR_MAX} - 1) == 0) { break; }
      printf("+${S}%d${S}%d${S}%d${S}%s${T}", tid, 100 + $i, $k, str($a + $k * ${STR_MAX}));
      $k++;
    }
    $i++;
  }
  delete(@al[tid]);`,
  );
  probe(
    ['syscalls:sys_enter_execve', 'syscalls:sys_enter_execveat'],
    TR,
    `  $e = args->envp; $i = 0;
  while ($i < 64) {
    $v = *($e + $i);
    if ($v == 0) { break; }
    if (strncmp(str($v, 12), "LD_PRELOAD=", 11) == 0) { printf("V${S}%d${S}%s${T}", tid, str($v)); }
    $i++;
  }`,
  );
  probe(['syscalls:sys_exit_execve', 'syscalls:sys_exit_execveat'], '', `  delete(@ix[tid]);`);

  // Untracked execs whose comm (basename of the executed file) or argv[0] names an agent,
  // or that run an interpreter (node, python: agent CLIs are scripts), become provisional
  // (@t = 2): user space reads their command line and untracks them if they are not agents.
  // Every exec of a provisional process is a candidate, not only the first: a launcher
  // (`#!/usr/bin/env node`) that exits before user space reads it is decided on its next image.
  const cands = [
    ...o.candidateComms.map((c) => `comm == ${quote(c.slice(0, 15))}`),
    ...o.candidatePrefixes.map((p) => `strncmp(comm, ${quote(p)}, ${p.length}) == 0`),
  ];
  const argv0 = o.renameComms.map((c) => `$a0 == ${quote(c)}`);
  probe(
    ['sched:sched_process_exec'],
    `!@t[pid] && ${pidNot(o.monitorPid)}`,
    `  ${inCg.length ? `if (${inCg.join(' || ')}) { @t[pid] = 1; }
  else ` : ''}if (${cands.length ? cands.join(' || ') : '0'}) { @t[pid] = 2; }
  else {
    $a0 = str(uptr(curtask->mm->arg_start));
    if (${argv0.length ? argv0.join(' || ') : '0'}) { @t[pid] = 2; }
  }`,
  );
  probe(
    ['sched:sched_process_exec'],
    `@t[pid] && ${pidNot(o.monitorPid)}`,
    `  printf("E${S}%llu${S}%d${S}%d${S}%d${S}%d${S}%d${S}%d${S}%s${T}", nsecs, pid, args->old_pid,
    curtask->real_parent->tgid, uid, curtask->cred->euid.val, @t[pid] == 2 ? 1 : 0, str(args->filename));`,
  );

  const renames = o.renameComms.map((c) => `args->newcomm == ${quote(c.slice(0, 15))}`);
  probe(
    ['task:task_rename'],
    `!@ix[tid] && pid != ${o.monitorPid}`,
    `  if (!@t[pid]) { if (${renames.length ? renames.join(' || ') : '0'}) { @t[pid] = 2; } }
  if (@t[pid]) { printf("R${S}%llu${S}%d${S}%d${S}%s${T}", nsecs, pid, tid, args->newcomm); }`,
  );

  const exitBody = (dead: string) => `  if (${dead}) {${
    o.foldOpensMs > 0
      ? `
    if (@lkc[pid] > 0) { printf("r${S}%llu${S}%d${S}%d${S}%d${T}", nsecs, pid, tid, @lkc[pid]); }
    delete(@lki[pid]); delete(@lkd[pid]); delete(@lkt[pid]); delete(@lkc[pid]);`
      : ''
  }
    printf("X${S}%llu${S}%d${S}%d${S}%llu${T}", nsecs, pid, curtask->exit_code, nsecs - curtask->group_leader->start_time);
    delete(@t[pid]);
  }`;
  probe(['sched:sched_process_exit'], TR, exitBody(exitHasGroupDead() ? 'args->group_dead' : 'curtask->signal->live.counter == 0'));

  // ---- files -----------------------------------------------------------------------
  // open: flags/dfd/pointer stashed at entry, record printed at exit with the result. The
  // path is read at exit, when the kernel has just faulted the page in (a read at entry
  // can fail on a page that is not resident yet).
  // An open's access mode and O_PATH are taken from the file the kernel opened: openat2's
  // flags, read from user memory at entry, are not the kernel's when that page is not mapped in
  // yet (the read fails: 0, read-only) or another thread rewrites them.
  const FILE_FLAGS = '0x200003';
  const KEEP_FLAGS = '0xffdffffc';
  // The file at the returned fd may have been put there by another task sharing the fd table (a
  // dup2 onto the slot before the exit probe): then it also has a second reference. Such an open
  // is never folded, keeps the flags the call was given, and says so (bit 31 of its flags).
  const REPLACED = (f: string) => `curtask->files->count.counter > 1 && ${fileRefsExpr(f)} > 1`;
  const REPLACED_BIT = '0x80000000';
  const okOpen = o.failedOpens ? '1' : 'args->ret >= 0 || args->ret == -13 || args->ret == -1';
  probe(['syscalls:sys_enter_openat'], TR, `  @op[tid] = (uint64)args->filename; @of[tid] = args->flags | 0x100000000; @od[tid] = args->dfd; @om[tid] = args->mode;`);
  probe(['syscalls:sys_enter_open'], TR, `  @op[tid] = (uint64)args->filename; @of[tid] = args->flags | 0x100000000; @od[tid] = -100; @om[tid] = args->mode;`);
  probe(['syscalls:sys_enter_creat'], TR, `  @op[tid] = (uint64)args->pathname; @of[tid] = 0x241 | 0x100000000; @od[tid] = -100; @om[tid] = args->mode;`);
  probe(['syscalls:sys_enter_openat2'], TR, `  @op[tid] = (uint64)args->filename; @of[tid] = (args->how->flags & 0xffffffff) | 0x100000000; @od[tid] = args->dfd; @om[tid] = args->how->mode;`);
  const openExits = ['syscalls:sys_exit_openat', 'syscalls:sys_exit_open', 'syscalls:sys_exit_creat', 'syscalls:sys_exit_openat2'];
  if (o.foldOpensMs > 0) {
    // Identity from the kernel's own file (device, inode), not from the user's string.
    // A repeat of the last open is counted (@lkc); the count is reported ('r') before the
    // next different open of the process, or at its exit.
    probe(
      openExits,
      '@of[tid] && args->ret >= 0',
      `  $f = *(curtask->files->fdt->fd + args->ret);
  if ($f == 0 || ${REPLACED('$f')}) {
    if (@lkc[pid] > 0) { printf("r${S}%llu${S}%d${S}%d${S}%d${T}", nsecs, pid, tid, @lkc[pid]); }
    @lki[pid] = 0; @lkd[pid] = 0; @lkc[pid] = 0;
  } else {
    $ino = $f->f_inode->i_ino; $dk = ((uint64)$f->f_inode->i_sb->s_dev << 32) | (@of[tid] & ${KEEP_FLAGS}) | (uint64)($f->f_flags & ${FILE_FLAGS});
    if (@lki[pid] == $ino && @lkd[pid] == $dk && nsecs - @lkt[pid] < ${o.foldOpensMs * 1_000_000}) { @lkc[pid]++; @sk[tid] = 1; }
    else {
      if (@lkc[pid] > 0) { printf("r${S}%llu${S}%d${S}%d${S}%d${T}", nsecs, pid, tid, @lkc[pid]); }
      @lki[pid] = $ino; @lkd[pid] = $dk; @lkt[pid] = nsecs; @lkc[pid] = 0;
    }
  }`,
    );
  }
  // Opens are the hot path: the long-string test must be exact here (the cheap byte test
  // misfires on paths that sit in argv/env memory and would multiply the records), and it
  // runs only when the byte test says the path may be long.
  probe(
    openExits,
    `@of[tid] && !@sk[tid] && (${okOpen}) && *(uint8*)(@op[tid] + ${STR_MAX - 1}) != 0`,
    `  if (str(@op[tid], 200) != str(@op[tid], 150)) { @lg[tid] = 1; }`,
  );
  probe(openExits, '@lg[tid]', `${cont('@op[tid]', '0')}  delete(@lg[tid]);`);
  probe(
    openExits,
    '@of[tid]',
    `  if (!@sk[tid] && (${okOpen})) {
    $fl = @of[tid] & 0xffffffff;
    if (args->ret >= 0) {
      $fk = *(curtask->files->fdt->fd + args->ret);
      if ($fk == 0) { $fl = $fl | ${REPLACED_BIT} | 0x40000000; }
      else if (${REPLACED('$fk')}) { $fl = $fl | ${REPLACED_BIT}; }
      else { $fl = (@of[tid] & ${KEEP_FLAGS}) | (uint64)($fk->f_flags & ${FILE_FLAGS}); }
    }
    printf("O${S}%llu${S}%d${S}%d${S}%d${S}%d${S}%d${S}%d${S}%s${T}", nsecs, pid, tid, @od[tid], $fl, @om[tid], args->ret, str(@op[tid]));
  }
  delete(@op[tid]); delete(@of[tid]); delete(@od[tid]); delete(@om[tid]); delete(@sk[tid]);`,
  );

  // Path operations are reported at entry: an attempt is what a monitor must see.
  const pathOp = (
    names: string[],
    code: string,
    ints: string[],
    ptr: string,
  ) => {
    const fmt = ints.map(() => `%d${S}`).join('');
    probe(names, TR, `${cont(ptr, '0')}  printf("${code}${S}%llu${S}%d${S}%d${S}${fmt}%s${T}", nsecs, pid, tid, ${[...ints, `str(${ptr})`].join(', ')});`);
  };
  /** A secondary string (rename source, symlink target, xattr name) printed just before. */
  const preString = (names: string[], code: string, ints: string[], ptr: string) => {
    const fmt = ints.map(() => `%d${S}`).join('');
    probe(names, TR, `${cont(ptr, '1')}  printf("${code}${S}%d${S}${fmt}%s${T}", tid, ${[...ints, `str(${ptr})`].join(', ')});`);
  };

  preString(['syscalls:sys_enter_rename'], 'm', ['-100'], 'args->oldname');
  pathOp(['syscalls:sys_enter_rename'], 'M', ['-100', '0'], 'args->newname');
  preString(['syscalls:sys_enter_renameat'], 'm', ['args->olddfd'], 'args->oldname');
  pathOp(['syscalls:sys_enter_renameat'], 'M', ['args->newdfd', '0'], 'args->newname');
  preString(['syscalls:sys_enter_renameat2'], 'm', ['args->olddfd'], 'args->oldname');
  pathOp(['syscalls:sys_enter_renameat2'], 'M', ['args->newdfd', 'args->flags'], 'args->newname');

  pathOp(['syscalls:sys_enter_unlink'], 'U', ['-100', '0'], 'args->pathname');
  pathOp(['syscalls:sys_enter_rmdir'], 'U', ['-100', '512'], 'args->pathname');
  pathOp(['syscalls:sys_enter_unlinkat'], 'U', ['args->dfd', 'args->flag'], 'args->pathname');

  preString(['syscalls:sys_enter_symlink'], 'y', [], 'args->oldname');
  pathOp(['syscalls:sys_enter_symlink'], 'Y', ['-100'], 'args->newname');
  preString(['syscalls:sys_enter_symlinkat'], 'y', [], 'args->oldname');
  pathOp(['syscalls:sys_enter_symlinkat'], 'Y', ['args->newdfd'], 'args->newname');

  preString(['syscalls:sys_enter_link'], 'k', ['-100'], 'args->oldname');
  pathOp(['syscalls:sys_enter_link'], 'K', ['-100', '0'], 'args->newname');
  preString(['syscalls:sys_enter_linkat'], 'k', ['args->olddfd'], 'args->oldname');
  pathOp(['syscalls:sys_enter_linkat'], 'K', ['args->newdfd', 'args->flags'], 'args->newname');

  pathOp(['syscalls:sys_enter_truncate'], 'T', ['-100', 'args->length'], 'args->path');
  probe(['syscalls:sys_enter_ftruncate'], TR, `  printf("T${S}%llu${S}%d${S}%d${S}%d${S}%d${S}${T}", nsecs, pid, tid, args->fd, args->length);`);

  pathOp(['syscalls:sys_enter_chmod'], 'H', ['-100', 'args->mode'], 'args->filename');
  pathOp(['syscalls:sys_enter_fchmodat', 'syscalls:sys_enter_fchmodat2'], 'H', ['args->dfd', 'args->mode'], 'args->filename');
  probe(['syscalls:sys_enter_fchmod'], TR, `  printf("H${S}%llu${S}%d${S}%d${S}%d${S}%d${S}${T}", nsecs, pid, tid, args->fd, args->mode);`);

  pathOp(['syscalls:sys_enter_chown', 'syscalls:sys_enter_lchown'], 'W', ['-100', 'args->user', 'args->group'], 'args->filename');
  pathOp(['syscalls:sys_enter_fchownat'], 'W', ['args->dfd', 'args->user', 'args->group'], 'args->filename');
  probe(['syscalls:sys_enter_fchown'], TR, `  printf("W${S}%llu${S}%d${S}%d${S}%d${S}%d${S}%d${S}${T}", nsecs, pid, tid, args->fd, args->user, args->group);`);

  preString(['syscalls:sys_enter_setxattr', 'syscalls:sys_enter_lsetxattr'], 'z', [], 'args->name');
  pathOp(['syscalls:sys_enter_setxattr', 'syscalls:sys_enter_lsetxattr'], 'Z', ['-100'], 'args->pathname');
  preString(['syscalls:sys_enter_fsetxattr'], 'z', [], 'args->name');
  probe(['syscalls:sys_enter_fsetxattr'], TR, `  printf("Z${S}%llu${S}%d${S}%d${S}%d${S}${T}", nsecs, pid, tid, args->fd);`);

  // mkdir is reported at exit with its result, without EEXIST: `mkdir -p` walks every
  // existing parent, and those attempts are not writes.
  probe(['syscalls:sys_enter_mkdir'], TR, `  @mkp[tid] = (uint64)args->pathname; @mkd[tid] = -100 + 1000000; @mkm[tid] = args->mode;`);
  probe(['syscalls:sys_enter_mkdirat'], TR, `  @mkp[tid] = (uint64)args->pathname; @mkd[tid] = args->dfd + 1000000; @mkm[tid] = args->mode;`);
  probe(
    ['syscalls:sys_exit_mkdir', 'syscalls:sys_exit_mkdirat'],
    '@mkp[tid]',
    `  if (args->ret != -17) {
${cont('@mkp[tid]', '0')}    printf("D${S}%llu${S}%d${S}%d${S}%d${S}%d${S}%d${S}%s${T}", nsecs, pid, tid, @mkd[tid] - 1000000, @mkm[tid], args->ret, str(@mkp[tid]));
  }
  delete(@mkp[tid]); delete(@mkd[tid]); delete(@mkm[tid]);`,
  );

  probe(
    ['syscalls:sys_enter_utimensat'],
    TR,
    `  if (args->filename != 0) { printf("I${S}%llu${S}%d${S}%d${S}%d${S}%s${T}", nsecs, pid, tid, args->dfd, str(args->filename)); }
  else { printf("I${S}%llu${S}%d${S}%d${S}%d${S}${T}", nsecs, pid, tid, args->dfd); }`,
  );
  pathOp(['syscalls:sys_enter_utimes', 'syscalls:sys_enter_utime'], 'I', ['-100'], 'args->filename');
  pathOp(['syscalls:sys_enter_futimesat'], 'I', ['args->dfd'], 'args->filename');

  // chdir is reported only when it succeeded: it moves the process's cwd in the model.
  probe(['syscalls:sys_enter_chdir'], TR, `  @cd[tid] = (uint64)args->filename;`);
  probe(['syscalls:sys_exit_chdir'], '@cd[tid]', `  if (args->ret == 0) { printf("C${S}%llu${S}%d${S}%d${S}%s${T}", nsecs, pid, tid, str(@cd[tid])); }\n  delete(@cd[tid]);`);
  probe(['syscalls:sys_enter_fchdir'], TR, `  @cf[tid] = args->fd + 1;`);
  probe(['syscalls:sys_exit_fchdir'], '@cf[tid]', `  if (args->ret == 0) { printf("c${S}%llu${S}%d${S}%d${S}%d${T}", nsecs, pid, tid, @cf[tid] - 1); }\n  delete(@cf[tid]);`);

  // ---- network ----------------------------------------------------------------------
  const sock = (fd: string) => `(struct socket *)(*(curtask->files->fdt->fd + ${fd}))->private_data`;
  probe(
    ['syscalls:sys_enter_connect'],
    TR,
    `  $s = ${sock('args->fd')};
  $sa = (struct sockaddr *)args->uservaddr; $f = $sa->sa_family;
  if ($f == 2) { $a4 = (struct sockaddr_in *)$sa;
    printf("N${S}%llu${S}%d${S}%d${S}%d${S}2${S}%d${S}%d${S}%s${S}0${S}${T}", nsecs, pid, tid, args->fd, $s->type, bswap($a4->sin_port), ntop(2, $a4->sin_addr.s_addr)); }
  if ($f == 10) { $a6 = (struct sockaddr_in6 *)$sa;
    printf("N${S}%llu${S}%d${S}%d${S}%d${S}10${S}%d${S}%d${S}%s${S}0${S}${T}", nsecs, pid, tid, args->fd, $s->type, bswap($a6->sin6_port), ntop(10, $a6->sin6_addr.in6_u.u6_addr8)); }`,
  );
  probe(
    ['syscalls:sys_enter_connect'],
    TR,
    `  $sa = (struct sockaddr *)args->uservaddr;
  if ($sa->sa_family == 1) { $s = ${sock('args->fd')}; $u = (uint64)args->uservaddr + 2;
    if (*(uint8*)$u == 0) { printf("N${S}%llu${S}%d${S}%d${S}%d${S}1${S}%d${S}0${S}-${S}1${S}%s${T}", nsecs, pid, tid, args->fd, $s->type, str($u + 1)); }
    else { printf("N${S}%llu${S}%d${S}%d${S}%d${S}1${S}%d${S}0${S}-${S}0${S}%s${T}", nsecs, pid, tid, args->fd, $s->type, str($u)); } }`,
  );

  // UDP datagrams: every one to port 53 (with its payload, decoded as DNS in user space),
  // otherwise the first per process, socket and port.
  const udpSend = (names: string[], addr: string, bufp: string, blen: string) => {
    probe(
      names,
      TR,
      `  $s = ${sock('args->fd')};
  if ($s->type == 2) {
    $sa = (struct sockaddr *)(${addr}); $port = bswap($s->sk->__sk_common.skc_dport); $fam = $s->sk->__sk_common.skc_family;
    if ($sa != 0) { $fam = $sa->sa_family; $port = bswap(((struct sockaddr_in *)$sa)->sin_port); }
    if ($port == 53 || !@us[pid, args->fd, $port]) {
      @us[pid, args->fd, $port] = 1;
      if ($sa != 0 && $fam == 2) { printf("S${S}%llu${S}%d${S}%d${S}%d${S}2${S}%d${S}%d${S}%s${T}", nsecs, pid, tid, args->fd, $port, ${blen}, ntop(2, ((struct sockaddr_in *)$sa)->sin_addr.s_addr)); }
      else if ($sa != 0 && $fam == 10) { printf("S${S}%llu${S}%d${S}%d${S}%d${S}10${S}%d${S}%d${S}%s${T}", nsecs, pid, tid, args->fd, $port, ${blen}, ntop(10, ((struct sockaddr_in6 *)$sa)->sin6_addr.in6_u.u6_addr8)); }
      else if ($fam == 2) { printf("S${S}%llu${S}%d${S}%d${S}%d${S}2${S}%d${S}%d${S}%s${T}", nsecs, pid, tid, args->fd, $port, ${blen}, ntop(2, $s->sk->__sk_common.skc_daddr)); }
      else { printf("S${S}%llu${S}%d${S}%d${S}%d${S}%d${S}%d${S}%d${S}-${T}", nsecs, pid, tid, args->fd, $fam, $port, ${blen}); }
      if ($port == 53) { @qb[tid] = (uint64)(${bufp}); @ql[tid] = ${blen}; @dq[pid, args->fd] = 1; }
    }
  }`,
    );
    // Payload of a DNS query, in escaped 200-byte pieces (a query is at most ~300 bytes).
    probe(
      names,
      '@ql[tid]',
      `  $b = @qb[tid]; $n = @ql[tid];
  printf("Q${S}%d${S}0${S}%d${S}%r${T}", tid, $n, buf($b, $n));
  if ($n > 200) { printf("Q${S}%d${S}1${S}%d${S}%r${T}", tid, $n, buf($b + 200, $n - 200)); }
  delete(@qb[tid]); delete(@ql[tid]);`,
    );
  };
  udpSend(['syscalls:sys_enter_sendto'], 'args->addr', 'args->buff', 'args->len');
  udpSend(['syscalls:sys_enter_sendmsg'], 'args->msg->msg_name', 'args->msg->msg_iov->iov_base', 'args->msg->msg_iov->iov_len');
  udpSend(['syscalls:sys_enter_sendmmsg'], 'args->mmsg->msg_hdr.msg_name', 'args->mmsg->msg_hdr.msg_iov->iov_base', 'args->mmsg->msg_hdr.msg_iov->iov_len');

  // DNS answers the process receives on a socket talking to port 53.
  const dnsRecv = (enter: string, exit: string, bufp: string) => {
    probe(
      [enter],
      TR,
      `  $s = ${sock('args->fd')};
  if ($s->type == 2 && (bswap($s->sk->__sk_common.skc_dport) == 53 || @dq[pid, args->fd])) { @rb[tid] = (uint64)(${bufp}); }`,
    );
    probe(
      [exit],
      '@rb[tid]',
      `  if (args->ret > 0) {
    $b = @rb[tid]; $n = args->ret;
    printf("P${S}%llu${S}%d${S}%d${S}%d${S}0${S}%r${T}", nsecs, pid, tid, $n, buf($b, $n));
    if ($n > 200) { printf("P${S}%llu${S}%d${S}%d${S}%d${S}1${S}%r${T}", nsecs, pid, tid, $n, buf($b + 200, $n - 200)); }
  }
  delete(@rb[tid]);`,
    );
  };
  dnsRecv('syscalls:sys_enter_recvfrom', 'syscalls:sys_exit_recvfrom', 'args->ubuf');
  dnsRecv('syscalls:sys_enter_recvmsg', 'syscalls:sys_exit_recvmsg', 'args->msg->msg_iov->iov_base');

  probe(
    ['syscalls:sys_enter_bind'],
    TR,
    `  $s = ${sock('args->fd')}; $sa = (struct sockaddr *)args->umyaddr;
  if ($sa->sa_family == 2) { $a4 = (struct sockaddr_in *)$sa; printf("B${S}%llu${S}%d${S}%d${S}%d${S}2${S}%d${S}%d${S}%s${T}", nsecs, pid, tid, args->fd, $s->type, bswap($a4->sin_port), ntop(2, $a4->sin_addr.s_addr)); }
  if ($sa->sa_family == 10) { $a6 = (struct sockaddr_in6 *)$sa; printf("B${S}%llu${S}%d${S}%d${S}%d${S}10${S}%d${S}%d${S}%s${T}", nsecs, pid, tid, args->fd, $s->type, bswap($a6->sin6_port), ntop(10, $a6->sin6_addr.in6_u.u6_addr8)); }`,
  );
  probe(
    ['syscalls:sys_enter_listen'],
    TR,
    `  $s = ${sock('args->fd')};
  printf("L${S}%llu${S}%d${S}%d${S}%d${S}%d${S}%d${S}%d${T}", nsecs, pid, tid, args->fd, $s->type, $s->sk->__sk_common.skc_num, args->backlog);`,
  );

  // ---- other -------------------------------------------------------------------------
  probe(['syscalls:sys_enter_ptrace'], TR, `  printf("G${S}%llu${S}%d${S}%d${S}%d${S}%d${T}", nsecs, pid, tid, args->request, args->pid);`);
  probe(['syscalls:sys_enter_memfd_create'], TR, `  printf("J${S}%llu${S}%d${S}%d${S}%d${S}%s${T}", nsecs, pid, tid, args->flags, str(args->uname));`);
  probe(['syscalls:sys_enter_io_uring_setup'], TR, `  printf("u${S}%llu${S}%d${S}%d${S}%d${T}", nsecs, pid, tid, args->entries);`);

  // ---- privileges, namespaces, packet sockets, userfaultfd (entry stashed, result at exit) ----
  const setid: Array<[string, number, string]> = [
    ['setuid', 105, 'uid'],
    ['setgid', 106, 'gid'],
    ['setreuid', 113, 'ruid'],
    ['setregid', 114, 'rgid'],
    ['setresuid', 117, 'ruid'],
    ['setresgid', 119, 'rgid'],
    ['setfsuid', 122, 'uid'],
    ['setfsgid', 123, 'gid'],
  ];
  for (const [name, nr, arg] of setid) {
    probe([`syscalls:sys_enter_${name}`], TR, `  @sn[tid] = ${nr}; @sa[tid] = args->${arg}; @sb[tid] = (uint64)curtask->cred->uid.val | ((uint64)curtask->cred->euid.val << 32);`);
  }
  probe(
    setid.map(([name]) => `syscalls:sys_exit_${name}`),
    '@sn[tid]',
    `  printf("h${S}%llu${S}%d${S}%d${S}%d${S}%d${S}%d${S}%d${S}%d${S}%d${S}%d${T}", nsecs, pid, tid, @sn[tid], args->ret, @sa[tid], @sb[tid] & 0xffffffff, @sb[tid] >> 32, curtask->cred->uid.val, curtask->cred->euid.val);
  delete(@sn[tid]); delete(@sa[tid]); delete(@sb[tid]);`,
  );
  probe(['syscalls:sys_enter_setns'], TR, `  @nf[tid] = args->fd + 1; @nt[tid] = args->flags;`);
  probe(['syscalls:sys_exit_setns'], '@nf[tid]', `  printf("n${S}%llu${S}%d${S}%d${S}%d${S}%d${S}%d${T}", nsecs, pid, tid, @nf[tid] - 1, @nt[tid], args->ret);
  delete(@nf[tid]); delete(@nt[tid]);`);
  probe(['syscalls:sys_enter_unshare'], TR, `  @uf[tid] = args->unshare_flags | 0x100000000;`);
  probe(['syscalls:sys_enter_clone'], `${TR} && (args->clone_flags & 0x7E020080)`, `  @uf[tid] = (args->clone_flags & 0xffffffff) | 0x300000000;`);
  probe(['syscalls:sys_exit_unshare', 'syscalls:sys_exit_clone'], '@uf[tid]', `  printf("x${S}%llu${S}%d${S}%d${S}%d${S}%d${S}%d${T}", nsecs, pid, tid, @uf[tid] & 0xffffffff, args->ret, (@uf[tid] >> 33));
  delete(@uf[tid]);`);
  probe(['syscalls:sys_enter_userfaultfd'], TR, `  @ff[tid] = args->flags | 0x100000000;`);
  probe(['syscalls:sys_exit_userfaultfd'], '@ff[tid]', `  printf("f${S}%llu${S}%d${S}%d${S}%d${S}%d${T}", nsecs, pid, tid, @ff[tid] & 0xffffffff, args->ret);
  delete(@ff[tid]);`);
  probe(
    ['syscalls:sys_enter_socket'],
    `${TR} && (args->family == 17 || (args->type & 0xf) == 3 || (args->type & 0xf) == 10)`,
    `  @kf[tid] = args->family + 1; @kt[tid] = args->type; @kp[tid] = args->protocol;`,
  );
  probe(['syscalls:sys_exit_socket'], '@kf[tid]', `  printf("o${S}%llu${S}%d${S}%d${S}%d${S}%d${S}%d${S}%d${T}", nsecs, pid, tid, @kf[tid] - 1, @kt[tid], @kp[tid], args->ret);
  delete(@kf[tid]); delete(@kt[tid]); delete(@kp[tid]);`);

  // ---- the system clock (nr, clock id, adjtimex modes; the result at exit) ----------------------
  probe(['syscalls:sys_enter_settimeofday'], TR, `  @cn[tid] = 164; @cc[tid] = 0; @cm[tid] = 0;`);
  probe(['syscalls:sys_enter_clock_settime'], TR, `  @cn[tid] = 227; @cc[tid] = args->which_clock; @cm[tid] = 0;`);
  probe(['syscalls:sys_enter_adjtimex'], TR, `  @cn[tid] = 159; @cc[tid] = 0; @cm[tid] = args->txc_p->modes;`);
  probe(['syscalls:sys_enter_clock_adjtime'], TR, `  @cn[tid] = 305; @cc[tid] = args->which_clock; @cm[tid] = args->utx->modes;`);
  probe(
    ['syscalls:sys_exit_settimeofday', 'syscalls:sys_exit_clock_settime', 'syscalls:sys_exit_adjtimex', 'syscalls:sys_exit_clock_adjtime'],
    '@cn[tid]',
    `  printf("q${S}%llu${S}%d${S}%d${S}%d${S}%d${S}%d${S}%d${T}", nsecs, pid, tid, @cn[tid], @cc[tid], @cm[tid], args->ret);
  delete(@cn[tid]); delete(@cc[tid]); delete(@cm[tid]);`,
  );

  return { text: out.join('\n\n') + '\n', missing };
}

function pidNot(pid: number): string {
  return `pid != ${pid}`;
}
