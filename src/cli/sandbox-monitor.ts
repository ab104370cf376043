// The kernel sensor and rules pointed at one sandbox (`warden run --monitor`): every
// process of the sandbox's cgroup (or of the launcher's tree) is watched, classified by
// the same rules as `warden watch`, and its events go to the run's audit.
import { watchConfigSchema, type WatchConfig } from '../config/watch-config.js';
import { AgentMatcher, basename } from '../model/agents.js';
import type { MonitorTarget, SandboxMonitor } from '../sandbox/monitor-hook.js';
import { startMonitorCore, type MonitorCore } from './monitor-core.js';

export function createSandboxMonitor(cfg: WatchConfig = watchConfigSchema.parse({})): SandboxMonitor {
  let core: MonitorCore | undefined;
  let name = 'sandbox';
  return {
    async attach(target: MonitorTarget) {
      if (target.argv?.length) name = new AgentMatcher().match({ argv: target.argv }) ?? basename(target.argv[0]!);
      core = await startMonitorCore(cfg, {
        hostAgents: false,
        trackCgroups: target.cgroupV2 ? [target.cgroupV2] : [],
        // the run's agent is governed in the sandbox's own cgroup (its processes start there)
        sessionCgroup: () => target.cgroup,
        emit: (ev) => {
          if (!isLauncher(ev.proc)) target.emit(ev);
          // the governor's events name the session's first process, which is the launcher here: kept, without it
          else if (ev.kind.startsWith('resource.') || ev.kind.startsWith('action.')) target.emit({ ...ev, proc: undefined });
        },
      });
    },
    launched(pid: number) {
      core?.model.adoptRoot(pid, name);
    },
    async detach() {
      await core?.stop();
    },
  };
}

/**
 * The launcher chain (cgroup join script, `nsenter` into the provider's namespace, setpriv, bwrap setting up the
 * mounts) runs before the confined command and is Warden's own doing: its activity would
 * only drown the command's and trip rules (bwrap creates symlinks and directories).
 */
function isLauncher(p: { exe: string; argv: string[] } | undefined): boolean {
  if (!p) return false;
  const exe = basename(p.exe);
  if (exe === 'bwrap' || exe === 'setpriv') return true;
  if (exe === 'nsenter' && p.argv.some((a) => a.startsWith('--net='))) return true;
  return p.argv[2] === 'warden-launch' || p.argv[3] === 'warden-launch';
}
