#!/usr/bin/env bash
# Installs exactly the Debian 12 packages that ContainerFS's build and tests need.
# Idempotent: installs only what is missing, and runs `apt-get update` only then.
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build make pkg-config git
  # clang for libFuzzer targets and its sanitizer runtime
  clang libclang-rt-14-dev
  # libraries (DESIGN.md section 5)
  libabsl-dev libisal-dev libspdlog-dev libfmt-dev libcli11-dev
  libboost1.81-dev libprotobuf-dev protobuf-compiler
  # the allocator of the cfs binary (docs/architecture.md, "common")
  libjemalloc-dev
  # the FUSE mount (libfuse 3.14 low-level API; fusermount3 for auto_unmount)
  libfuse3-dev fuse3
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev fio
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
