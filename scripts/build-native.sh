#!/usr/bin/env bash
# Builds the compiled kernel sensor: native/build/warden-sensor (libbpf loader with the
# CO-RE BPF object embedded as a skeleton). vmlinux.h is generated from the running
# kernel's BTF. When the toolchain or BTF is missing this says what is missing and exits 0:
# Warden then uses the bpftrace backend. `--strict` makes a failed build exit 1.
set -uo pipefail
cd "$(dirname "$0")/.."
STRICT=0
[ "${1:-}" = "--strict" ] && STRICT=1
SRC=native/sensor
OUT=native/build
BTF=/sys/kernel/btf/vmlinux

skip() {
  echo "build-native: $1; the compiled sensor is not built (Warden falls back to bpftrace)" >&2
  exit $STRICT
}

missing=()
command -v clang >/dev/null || missing+=(clang)
command -v bpftool >/dev/null || missing+=(bpftool)
command -v cc >/dev/null || missing+=(gcc)
[ -f /usr/include/bpf/libbpf.h ] || missing+=(libbpf-dev)
[ -f /usr/include/libelf.h ] || missing+=(libelf-dev)
[ ${#missing[@]} -eq 0 ] || skip "missing ${missing[*]} (apt-get install ${missing[*]})"
[ -r "$BTF" ] || skip "no kernel BTF at $BTF (CONFIG_DEBUG_INFO_BTF)"
[ "$(uname -m)" = x86_64 ] || skip "only x86_64 syscall numbers are built in (this is $(uname -m))"

BIN=$OUT/warden-sensor
newest_src=$(ls -t $SRC/* scripts/build-native.sh | head -1)
if [ -x "$BIN" ] && [ "$BIN" -nt "$newest_src" ]; then
  echo "build-native: $BIN is up to date"
  exit 0
fi

mkdir -p "$OUT"
set -e
trap 'skip "the build failed (see above)"' ERR
bpftool btf dump file "$BTF" format c > "$OUT/vmlinux.h.tmp"
mv "$OUT/vmlinux.h.tmp" "$OUT/vmlinux.h"
clang -g -O2 -Wall -Wno-unused-function -target bpf -D__TARGET_ARCH_x86 -I"$OUT" -I"$SRC" \
  -c "$SRC/sensor.bpf.c" -o "$OUT/sensor.bpf.o"
bpftool gen skeleton "$OUT/sensor.bpf.o" name sensor > "$OUT/sensor.skel.h.tmp"
mv "$OUT/sensor.skel.h.tmp" "$OUT/sensor.skel.h"
# the build id ties a pinned kernel state to the object that created it (loader.c: adoption)
BUILD_ID=$(sha256sum "$OUT/sensor.bpf.o" | cut -c1-16)
cc -O2 -Wall -DBUILD_ID="\"$BUILD_ID\"" -I"$OUT" -I"$SRC" "$SRC/loader.c" -o "$BIN.tmp" -lbpf -lelf -lz
mv "$BIN.tmp" "$BIN"
trap - ERR
echo "build-native: built $BIN"
