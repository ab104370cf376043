// Scripts run by their #! line (issue #11: every python3 under pyenv was a python one-liner to
// the rules): the kernel reports the script as exe and the interpreter in argv; proc.interpreter
// is the program that runs, proc.script the script, proc.inline only the code given with -c/-e.
import { describe, expect, it } from 'vitest';
import { STRUCTS } from '../../src/rules/fields.js';

const proc = STRUCTS.proc!.fields;
const v = (field: string, o: Record<string, unknown>) => proc[field]!.virtual!(o);

describe('script execs', () => {
  const shim = { exe: '/root/.pyenv/shims/python3', cwd: '/tmp/w', argv: ['/usr/bin/env', 'bash', '/root/.pyenv/shims/python3', '-c', 'import pty'] };
  it('a pyenv shim is bash running a script, not python with -c', () => {
    expect(v('interpreter', shim)).toBe('bash');
    expect(v('name', shim)).toBe('python3');
    expect(v('script', shim)).toBe('/root/.pyenv/shims/python3');
    expect(v('inline', shim)).toBeUndefined();
    expect(v('tool', shim)).toBe('python3');
  });
  it('an interpreter run directly keeps its name and its inline code', () => {
    const py = { exe: '/usr/bin/python3.11', argv: ['python3', '-c', 'print(1)'] };
    expect(v('interpreter', py)).toBe('python3.11');
    expect(v('inline', py)).toBe('print(1)');
    expect(v('script', py)).toBeUndefined();
  });
  it('a shell -c after the script is the script\'s argument, not inline code', () => {
    expect(v('inline', { exe: '/usr/bin/bash', argv: ['bash', 'build.sh', '-c', 'x'] })).toBeUndefined();
    expect(v('inline', { exe: '/usr/bin/bash', argv: ['bash', '-e', '-c', 'make'] })).toBe('make');
    expect(v('inline', { exe: '/usr/bin/dash', argv: ['/bin/sh', '-ec', 'make'] })).toBe('make');
  });
  it('a perl script (adduser) keeps its name; its interpreter is perl', () => {
    const add = { exe: '/usr/sbin/adduser', argv: ['/usr/bin/perl', '/usr/sbin/adduser', 'bob'] };
    expect(v('name', add)).toBe('adduser');
    expect(v('interpreter', add)).toBe('perl');
    expect(v('script', add)).toBe('/usr/sbin/adduser');
  });
  it('a #! line with an argument (#!/bin/sh -e) is recognised', () => {
    const s = { exe: '/opt/x/run', argv: ['/bin/sh', '-e', '/opt/x/run', 'go'] };
    expect(v('interpreter', s)).toBe('sh');
    expect(v('script', s)).toBe('/opt/x/run');
  });
});
