import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalize, resolveAgainst } from '../../src/model/paths.js';

describe('lexical paths', () => {
  it.each([
    ['/a/b/../c', '/a/c'],
    ['/a/./b//c/', '/a/b/c'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/tmp/x/../../home/u/.ssh/id_rsa', '/home/u/.ssh/id_rsa'],
    ['/', '/'],
  ])('%s -> %s', (i, o) => expect(normalize(i)).toBe(o));

  it('resolves relative paths against the directory', () => {
    expect(resolveAgainst('/work/p', '../q/./f')).toBe('/work/q/f');
    expect(resolveAgainst('/work/p', '/abs')).toBe('/abs');
    expect(resolveAgainst('/work/p', '')).toBe('/work/p');
  });

  it('always yields an absolute path without . or .. segments', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', '.', '..', '', '.ssh'), { maxLength: 12 }), (segs) => {
        const r = resolveAgainst('/w', segs.join('/'));
        expect(r.startsWith('/')).toBe(true);
        expect(r.split('/').some((s) => s === '.' || s === '..')).toBe(false);
      }),
    );
  });
});
