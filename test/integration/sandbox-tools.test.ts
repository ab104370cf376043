// Ordinary development tools keep working inside `warden run` (with the default policy:
// network none, seccomp on, secrets hidden, HOME read-only), as root and as nobody.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOBODY, PY, run, sandboxSh, scratch, type Scratch } from './helpers/warden-run.js';

for (const who of ['root', 'nobody'] as const) {
  const uid = who === 'root' ? undefined : NOBODY;
  describe(`tools inside warden run (as ${who})`, () => {
    let s: Scratch;
    const sh = (script: string, dir?: string) => sandboxSh(script, { cwd: dir ?? s.ws, uid, env: { HOME: s.home, TERM: 'dumb' } });
    beforeAll(() => {
      s = scratch(uid);
    });
    afterAll(() => s.cleanup());

    it('git: init, commit, log, branch (and a fresh repo is not quarantined)', async () => {
      const dir = path.join(s.ws, 'repo');
      s.write('ws/repo/README.md', '# hello\n');
      const r = await sh(
        'git init -q -b main && git add . && git -c user.email=a@example.com -c user.name=agent commit -qm first && git checkout -qb topic && git log --oneline | wc -l && git status --short | wc -l',
        dir,
      );
      expect(r.stderr).not.toMatch(/protected path/);
      expect(r.code).toBe(0);
      expect(r.stdout.trim().split('\n')).toEqual(['1', '0']);
      const log = await run(['git', '-C', dir, 'log', '--oneline'], { cwd: dir, uid });
      expect(log.stdout).toMatch(/first/); // the repository is intact outside
    });

    it('node: files, child processes, worker threads', async () => {
      const js = `const fs=require('fs'),cp=require('child_process'),{Worker}=require('worker_threads');
fs.writeFileSync('n.txt', String(6*7));
const out = cp.execFileSync('sh', ['-c', 'echo child']).toString().trim();
new Worker('require("worker_threads").parentPort.postMessage(21*2)', { eval: true }).on('message', (m) => console.log(out, m, fs.readFileSync('n.txt', 'utf8')));`;
      s.write('ws/t.js', js);
      const r = await sh('node t.js');
      expect(r.stdout.trim()).toBe('child 42 42');
    });

    it('npm: init, run a script', async () => {
      const dir = path.join(s.ws, 'pkg');
      s.write('ws/pkg/.keep', '');
      const r = await sh(`npm --version && npm init -y >/dev/null && npm pkg set scripts.hello="node -e \\"console.log('hello from npm')\\"" && npm run -s hello`, dir);
      expect(r.stdout).toContain('hello from npm');
      expect(r.code).toBe(0);
    });

    it('python: scripts, venv, subprocess, multiprocessing', async () => {
      s.write('ws/p.py', 'import subprocess, multiprocessing as mp\ndef sq(x): return x*x\nif __name__ == "__main__":\n  with mp.Pool(2) as p: print(sum(p.map(sq, range(10))), subprocess.check_output(["echo", "sub"]).decode().strip())\n');
      const r = await sh(`${PY} p.py && ${PY} -m venv .venv && .venv/bin/python -c "import sys; print(sys.prefix.endswith('.venv'))"`);
      expect(r.stdout.trim().split('\n')).toEqual(['285 sub', 'True']);
    });

    it('make and gcc: build and run a C program', async () => {
      s.write('ws/c/hello.c', '#include <stdio.h>\n#include <pthread.h>\nvoid *f(void *a){return a;}\nint main(void){pthread_t t; pthread_create(&t,0,f,0); pthread_join(t,0); printf("hello %d\\n", 42); return 0;}\n');
      s.write('ws/c/Makefile', 'hello: hello.c\n\tgcc -O2 -pthread -o $@ $<\n');
      const r = await sh('make -s -j2 && ./hello', path.join(s.ws, 'c'));
      expect(r.stdout.trim()).toBe('hello 42');
      expect(fs.existsSync(path.join(s.ws, 'c/hello'))).toBe(true);
    });
  });
}
