#!/usr/bin/env bash
# Packs into .gpu/ what a GPU machine without cargo needs to run bo: the
# stripped release binaries (bo and its training worker bo-train, which `bo
# train` runs) with the shared libraries they link besides torch's
# (OpenBLAS and its Fortran runtime), xz-compressed, the CIFAR-10 JPEG
# tarball from ../shared/data and the airbench peers from ../shared/peers.
# About 31 MB. On that machine, from the repository root:
# benchmarks/gpu/on_device.sh, or benchmarks/gpu/airbench_parity.sh (#12).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/setup.sh
staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/lib" .gpu
for binary in bo bo-train; do
    cp "target/release/$binary" "$staging/$binary"
    strip "$staging/$binary"
done
ldd target/release/bo target/release/bo-train | awk '/=> \// {print $3}' | grep -E 'openblas|gfortran|quadmath' |
    sort -u | while read -r lib; do cp -L "$lib" "$staging/lib/"; done
tar cJf .gpu/bo-bundle.tar.xz -C "$staging" .
cp ../shared/data/cifar10-jpeg.tar.xz .gpu/
rm -rf .gpu/airbench
cp -r ../shared/peers/airbench .gpu/airbench
du -sh .gpu
