#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, with .gpu/ made by
# bundle.sh: unpacks bo and the data under /tmp, points LD_LIBRARY_PATH at the
# machine's own torch and the bundled libraries, and runs the CIFAR-10
# benchmark. Results go to $OUT (default ./gpu-results). Extra arguments go to
# cifar10.sh (e.g. -- --set epochs=12).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-gpu-results}"
mkdir -p "$out" /tmp/bo-gpu /tmp/cifar
tar xJf .gpu/bo-bundle.tar.xz -C /tmp/bo-gpu
tar xJf .gpu/cifar10-jpeg.tar.xz -C /tmp/cifar
torch_lib="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
export LD_LIBRARY_PATH="$torch_lib:/tmp/bo-gpu/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
fi
BO=/tmp/bo-gpu/bo benchmarks/gpu/cifar10.sh /tmp/cifar "$@" 2> "$out/train.log" | tee "$out/table.md"
