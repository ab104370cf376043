// withSbin: the sbin directories egress tools live in are added to a user PATH that lacks them.
import { describe, expect, it } from 'vitest';
import { toolEnv, withSbin } from '../../src/util/sbin-path.js';

describe('withSbin', () => {
  it("appends /usr/local/sbin, /usr/sbin and /sbin to Debian's default user PATH", () => {
    expect(withSbin('/usr/local/bin:/usr/bin:/bin')).toBe('/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin');
  });
  it('keeps a PATH that has them unchanged, in its own order', () => {
    expect(withSbin('/sbin:/usr/bin:/usr/sbin:/usr/local/sbin')).toBe('/sbin:/usr/bin:/usr/sbin:/usr/local/sbin');
  });
  it('works without a PATH, and toolEnv keeps the other variables', () => {
    expect(withSbin(undefined)).toBe('/usr/local/sbin:/usr/sbin:/sbin');
    expect(toolEnv({ PATH: '/bin', HOME: '/h' })).toEqual({ PATH: '/bin:/usr/local/sbin:/usr/sbin:/sbin', HOME: '/h' });
  });
});
