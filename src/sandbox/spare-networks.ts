// The supervisor's spare networks (issue #16): an allowlist run's namespace made ahead, so
// that the next run does not wait for it. One spare is kept once a run asked for allowlist
// (nothing is made for users who never do); each is taken by one run only, which removes it
// with its sandbox: nothing carries over from one sandbox to the next. A spare has a crash
// record of its own, so one the supervisor could not remove is cleaned by the next run.
import { newSandboxId } from './runner.js';
import type { NetworkProvider, SpareNetwork } from './network-provider.js';
import { ownStartTime, RecordFile } from './state.js';

interface Spare {
  id: string;
  net: SpareNetwork;
  record: RecordFile;
}

export class SpareNetworks {
  private ready: Spare[] = [];
  private making?: Promise<void>;
  private stopped = false;
  /** Spares taken by runs that have not ended. */
  private taken = new Map<string, Spare>();

  constructor(
    private readonly dir: string,
    private readonly log: (m: string) => void = () => {},
    private readonly keep = 1,
  ) {}

  /** The sandbox id of a ready spare of `provider`'s, now one run's (refill() makes the next). */
  take(provider: NetworkProvider): string | undefined {
    if (!provider.makeSpare || this.stopped) return undefined;
    const s = this.ready.shift();
    if (s) this.taken.set(s.id, s);
    return s?.id;
  }

  /**
   * Spares made for the next runs of `provider`'s, once a run has its answer: made while a run
   * sets up, they took its process's time (the `ip` and `nft` children are started from it).
   */
  refill(provider: NetworkProvider): Promise<void> {
    if (!provider.makeSpare) return Promise.resolve();
    this.fill(provider);
    return this.making ?? Promise.resolve();
  }

  /**
   * The run that took `id` has ended: its record covers what it adopted (removed in the
   * background); a spare it never reached (a command not found) is dropped here.
   */
  async ended(id: string): Promise<void> {
    const s = this.taken.get(id);
    this.taken.delete(id);
    if (!s) return;
    await s.net.drop().catch(() => undefined);
    s.record.remove();
  }

  private fill(provider: NetworkProvider): void {
    if (this.making || this.stopped || this.ready.length >= this.keep) return;
    this.making = this.make(provider).finally(() => {
      this.making = undefined;
      if (this.ready.length < this.keep && !this.stopped) this.fill(provider);
    });
  }

  private async make(provider: NetworkProvider): Promise<void> {
    const id = newSandboxId();
    // Written before anything exists: the names of what is made come from the id alone.
    const record = new RecordFile(this.dir, {
      version: 1,
      id,
      pid: process.pid,
      start: ownStartTime(),
      created: new Date().toISOString(),
      workspace: '',
      cgroups: { dirs: [] },
      network: { mode: 'allowlist', provider: 'egress' },
      protected: [],
    }, 'spare');
    try {
      const net = await provider.makeSpare!(id);
      record.update({ network: { mode: 'allowlist', provider: 'egress', record: net.record } });
      if (this.stopped) {
        await net.drop();
        record.remove();
        return;
      }
      this.ready.push({ id, net, record });
    } catch (err) {
      // Not fatal: the next run makes its own namespace, as without spares.
      this.log(`spare network: ${(err as Error).message}`);
      record.remove();
      this.stopped = true; // a host where it fails (no ip, no nft) is not retried for every run
    }
  }

  /** Removes the spares no run took (the supervisor stops). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.making;
    for (const s of [...this.ready.splice(0), ...this.taken.values()]) {
      await s.net.drop().catch(() => undefined);
      s.record.remove();
    }
  }
}
