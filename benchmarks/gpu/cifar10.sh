#!/usr/bin/env bash
# CIFAR-10 on the GPU: test accuracy, training seconds and images/s (mean ± sd
# over seeds) of (1) the default fast network with default hyperparameters and
# (2) the course's reference run: ResNet-34 with [1,1,1,1] blocks, Adam lr 1e-3,
# batch 1024, 1 epoch, no augmentation.
#
#   benchmarks/gpu/cifar10.sh [DATA_DIR] [-- extra `bo train` arguments]
#
# DATA_DIR defaults to ../shared/data/cifar10-jpeg.tar.xz unpacked into a
# temporary folder. BO names the binary (default target/release/bo), SEEDS the
# seeds per row (default 5). Target on an H100: ≥ 93% test accuracy on the
# JPEG copy in ≤ 5 s of training for row (1).
set -euo pipefail
cd "$(dirname "$0")/../.."
bo="${BO:-target/release/bo}"
seeds="${SEEDS:-5}"
data=""
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    data="$1"
    shift
fi
[ "${1:-}" = "--" ] && shift
if [ -z "$data" ]; then
    data="$(mktemp -d)"
    trap 'rm -rf "$data"' EXIT
    tar xJf ../shared/data/cifar10-jpeg.tar.xz -C "$data"
fi
"$bo" device
default_row="$("$bo" train --dataset cifar10 --data-dir "$data" --seeds "$seeds" \
    --label "fast network (airbench-style), defaults" "$@" | tail -n 1)"
reference_row="$("$bo" train --dataset cifar10 --data-dir "$data" --seeds "$seeds" \
    --label "ResNet-34 [1,1,1,1], Adam 1e-3, batch 1024, 1 epoch" \
    --set model=resnet --set optimizer=adam --set lr=0.001 --set momentum=0.9 --set weight_decay=0 \
    --set batch_size=1024 --set epochs=1 --set schedule=constant --set warmup=0 --set label_smoothing=0 \
    --set flip=false --set translate=0 --set cutout=0 --set tta=false --set lookahead=false "$@" | tail -n 1)"
echo
echo "| run | seeds | test accuracy (%) | training seconds | images/s |"
echo "|---|---|---|---|---|"
echo "$default_row"
echo "$reference_row"
