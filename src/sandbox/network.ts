// Network modes. `none`: bwrap's own network namespace with only loopback. `full`: the host's
// network. `allowlist`: the egress module (issue #7), imported only when that mode is asked for.
import type { EgressModule, NetworkProvider, PreparedNetwork } from './network-provider.js';
import type { NetworkMode } from './policy.js';

export class NetworkUnavailable extends Error {}

function builtin(mode: 'none' | 'full'): NetworkProvider {
  return {
    mode,
    async prepare(): Promise<PreparedNetwork> {
      return { commandPrefix: [], bwrapArgs: [], unshareNet: mode === 'none', async cleanup() {} };
    },
  };
}

// A variable specifier: the egress module may not exist in this build yet.
const EGRESS_MODULE = '../egress/index.js';

export async function loadEgress(): Promise<EgressModule> {
  try {
    return (await import(EGRESS_MODULE)) as EgressModule;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND')
      throw new NetworkUnavailable(
        'network mode "allowlist" is not available in this build: the egress proxy (issue #7) has not landed yet. ' +
          'Use network.mode none (default) or full.',
      );
    throw err;
  }
}

export async function networkProvider(mode: NetworkMode): Promise<NetworkProvider> {
  if (mode === 'none' || mode === 'full') return builtin(mode);
  const egress = await loadEgress();
  if (typeof egress.createAllowlistProvider !== 'function')
    throw new NetworkUnavailable('network mode "allowlist": src/egress/index.ts does not export createAllowlistProvider()');
  return egress.createAllowlistProvider();
}
