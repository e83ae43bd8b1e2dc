#!/usr/bin/env bash
# Cross-compile the quant and gguf tests for aarch64 and run them under qemu-user: the NEON
# kernels (crates/quant/src/simd/arm, tests/simd_arm.rs) against the scalar level, plus every
# other quant/gguf test on an aarch64 target, once with the default table (NEON) and once with
# VIBRANT_KERNELS=scalar. Installs what is missing: the rustup target, Debian's
# gcc-aarch64-linux-gnu (the linker and libc) and qemu-user.
# Usage: scripts/test-aarch64.sh [extra cargo test args...]
# The linker and runner are set here, not in a committed .cargo/config, so x86 builds are untouched.
# qemu is not a speed measurement: this checks correctness only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target=aarch64-unknown-linux-gnu
sysroot=/usr/aarch64-linux-gnu

if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi

missing=()
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L $sysroot"

start=$(date +%s)
echo "== aarch64 (qemu): cargo test -p quant -p gguf, default kernels (NEON)"
cargo test -p quant -p gguf --target "$target" "$@"
built=$(date +%s)
# Same binaries, scalar table for everything that uses the process-wide kernels.
echo "== aarch64 (qemu): the same with VIBRANT_KERNELS=scalar"
VIBRANT_KERNELS=scalar cargo test -p quant -p gguf --target "$target" "$@"
end=$(date +%s)
echo "test-aarch64: passed in $((end - start)) s (build + NEON run $((built - start)) s, scalar run $((end - built)) s)"
