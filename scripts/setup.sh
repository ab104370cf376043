#!/usr/bin/env bash
# Installs what Warden needs on a fresh Debian/Ubuntu machine (system packages, npm
# dependencies) and builds it. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(bpftrace bubblewrap nftables iproute2 conntrack uidmap util-linux procps psmisc
      libcap2-bin tmux socat dnsutils netcat-openbsd curl python3 git ca-certificates
      libnotify-bin openssl zip rsync ed sudo cron openssh-client openssh-server
      strace gcc make python3-venv bsdutils python3-pip python3-requests   # warden run tests (tools inside the sandbox)
      direnv pre-commit python3-pytest python3-setuptools zip unzip   # benign developer sessions (test/integration/benign-corpus)
      tcpdump nmap telnet sshpass whois ufw iptables ccrypt iputils-ping   # tools the Atomic Red Team corpus tests use
      at screen)   # hand-off servers of the watch tests (tmux, openssh-server above)
# The compiled kernel sensor (scripts/build-native.sh). Installed on their own, best effort:
# without them Warden uses bpftrace.
NATIVE_PKGS=(clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool gcc make)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: these packages are missing and installing them needs root: ${missing[*]}" >&2
    echo "setup: run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

native_missing=()
for p in "${NATIVE_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || native_missing+=("$p")
done
if [ ${#native_missing[@]} -gt 0 ] && [ "$(id -u)" -eq 0 ]; then
  echo "setup: installing ${native_missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  [ ${#missing[@]} -gt 0 ] || apt-get update -qq || true
  apt-get install -y -qq --no-install-recommends "${native_missing[@]}" >/dev/null ||
    echo "setup: could not install ${native_missing[*]}; the compiled sensor will not be built" >&2
fi
bash scripts/build-native.sh || true

# tracefs is where bpftrace finds tracepoints; some boots do not mount it.
if [ "$(id -u)" -eq 0 ] && [ ! -e /sys/kernel/tracing/events ]; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi

npm ci --no-audit --no-fund --loglevel=error
# Real agent CLIs at pinned versions for the benign start-up sessions (test/agents, never fetched
# at run time; the sessions run them with no network).
if [ ! -x test/agents/node_modules/.bin/claude ] || [ test/agents/package-lock.json -nt test/agents/node_modules/.package-lock.json ]; then
  npm ci --prefix test/agents --no-audit --no-fund --loglevel=error ||
    echo "setup: could not install the agent CLIs of test/agents; their benign sessions will be skipped" >&2
fi
npm run build --silent
echo "setup: done. Try: sudo bin/warden doctor"
