#!/usr/bin/env bash
# Warden GitHub Action, step 1: what `warden run` needs on the runner (ubuntu-latest): the
# system packages, Node >= 20, Warden built from the action's checkout, and on Ubuntu 23.10+
# (24.04 runners) an AppArmor profile that lets bwrap create user namespaces
# (kernel.apparmor_restrict_unprivileged_userns = 1 refuses them to unprofiled programs; the
# profile is the one `warden doctor` prints). Ends with `warden doctor` in the log.
set -euo pipefail
ACTION_PATH="${ACTION_PATH:-$(cd "$(dirname "$0")/../.." && pwd)}"
SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo -n)
# Overridable for tests (this script is tested by running it, with these pointed at temp files).
SYSCTL="${WARDEN_ACTION_USERNS_SYSCTL:-/proc/sys/kernel/apparmor_restrict_unprivileged_userns}"
APPARMOR_D="${WARDEN_ACTION_APPARMOR_D:-/etc/apparmor.d}"

pkgs=()
for p in bwrap:bubblewrap nft:nftables ip:iproute2 setpriv:util-linux; do
  command -v "${p%%:*}" >/dev/null 2>&1 || pkgs+=("${p#*:}")
done
if [ "${INPUT_MONITOR:-false}" = true ] && ! command -v bpftrace >/dev/null 2>&1; then pkgs+=(bpftrace); fi
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "warden: installing ${pkgs[*]}"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
else
  echo "warden: system packages present (bwrap, nft, ip, setpriv)"
fi

if [ -r "$SYSCTL" ] && [ "$(cat "$SYSCTL")" = 1 ]; then
  bwrap_path="$(command -v bwrap || echo /usr/bin/bwrap)"
  profile="$APPARMOR_D/warden-bwrap"
  echo "warden: AppArmor restricts unprivileged user namespaces (Ubuntu 23.10+): installing $profile for $bwrap_path"
  printf 'abi <abi/4.0>,\ninclude <tunables/global>\nprofile warden-bwrap %s flags=(unconfined) {\n  userns,\n  include if exists <local/warden-bwrap>\n}\n' "$bwrap_path" |
    "${SUDO[@]}" tee "$profile" >/dev/null
  if command -v apparmor_parser >/dev/null 2>&1; then
    "${SUDO[@]}" apparmor_parser -r "$profile"
  else
    echo "::warning title=Warden::apparmor_parser not found: $profile is written but not loaded; Warden runs as root (sudo) and does not need it"
  fi
fi

major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$major" -lt 20 ]; then
  echo "::error title=Warden::Node.js >= 20 is needed (found ${major}); add actions/setup-node before this step"
  exit 1
fi
if [ ! -f "$ACTION_PATH/dist/cli/main.js" ] || [ ! -d "$ACTION_PATH/node_modules" ]; then
  echo "warden: building Warden in $ACTION_PATH"
  (cd "$ACTION_PATH" && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
fi
"${SUDO[@]}" env "PATH=$PATH" "$ACTION_PATH/bin/warden" doctor || echo "::warning title=Warden::warden doctor reported problems (see above)"
