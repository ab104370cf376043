#!/usr/bin/env bash
# Builds the native launcher of `warden run`: native/build/warden-launch (plain C, only a C
# compiler needed). bin/warden uses it for `warden run` when it is there (the fast path: no
# Node start per run, see src/sandbox/supervisor.ts); without it Warden runs the Node path.
set -uo pipefail
cd "$(dirname "$0")/.."
SRC=native/launcher/launcher.c
BIN=native/build/warden-launch
if ! command -v cc >/dev/null; then
  echo "build-launcher: no C compiler (apt-get install gcc); warden run uses the Node path" >&2
  exit 0
fi
if [ -x "$BIN" ] && [ "$BIN" -nt "$SRC" ] && [ "$BIN" -nt scripts/build-launcher.sh ]; then
  echo "build-launcher: $BIN is up to date"
  exit 0
fi
mkdir -p native/build
if cc -O2 -Wall -Wextra -Wno-unused-parameter -o "$BIN.tmp" "$SRC"; then
  mv "$BIN.tmp" "$BIN"
  echo "build-launcher: built $BIN"
else
  # An older launcher left in place would be used with this build's supervisor: removed.
  rm -f "$BIN.tmp" "$BIN"
  echo "build-launcher: the build failed; warden run uses the Node path" >&2
fi
