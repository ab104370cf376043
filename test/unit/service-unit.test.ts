import { describe, expect, it } from 'vitest';
import { renderUnit } from '../../src/cli/service.js';

describe('warden service unit', () => {
  it('restarts the monitor whatever stopped it, without a start limit, and leaves restarting to systemd', () => {
    for (const user of [false, true]) {
      const unit = renderUnit({ user, node: '/usr/bin/node', bin: '/opt/warden/bin/warden', config: '/etc/warden/watch.yaml' });
      expect(unit).toContain('Restart=always\n');
      expect(unit).toContain('StartLimitIntervalSec=0\n');
      expect(unit).toContain('Environment=WARDEN_NO_RESPAWN=1\n');
      expect(unit).not.toContain('Restart=on-failure');
      expect(unit).toContain('ExecStart=/usr/bin/node /opt/warden/bin/warden watch --config /etc/warden/watch.yaml --quiet\n');
    }
  });
});
