#!/usr/bin/env bash
# #12's measurement, on one GPU in one call, from the repository root with
# .gpu/ made by bundle.sh: bo's default CIFAR-10 recipe trained on all 50,000
# images (`bo train --validation-size 0`), airbench94 and airbench94_muon, on
# the same JPEG copy, SEEDS runs each (default 10) after an untimed warm-up.
# Prints one markdown table (test accuracy and seconds, mean ± sd; images/s)
# and keeps every log and JSON line in $OUT (default ./gpu-results).
#   benchmarks/gpu/airbench_parity.sh [-- extra `bo train` arguments]
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-gpu-results}"
seeds="${SEEDS:-10}"
[ "${1:-}" = "--" ] && shift
mkdir -p "$out" /tmp/bo-gpu /tmp/cifar /tmp/ab
tar xJf .gpu/bo-bundle.tar.xz -C /tmp/bo-gpu
tar xJf .gpu/cifar10-jpeg.tar.xz -C /tmp/cifar
torch_lib="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
export LD_LIBRARY_PATH="$torch_lib:/tmp/bo-gpu/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit --format=csv | tee "$out/gpu.txt"
bo=/tmp/bo-gpu/bo
"$bo" device | tee "$out/device.txt"
# bo first: its table row is the last line `bo train` prints.
"$bo" train --dataset cifar10 --data-dir /tmp/cifar/cifar10-jpeg --validation-size 0 --seeds "$seeds" \
    --label "bo (airbench network, default recipe)" "$@" 2> "$out/bo.log" | tee "$out/bo.txt"
python3 .gpu/airbench/jpeg_to_pt.py /tmp/cifar/cifar10-jpeg /tmp/ab/cifar10 > "$out/convert.log" 2>&1
for peer in airbench94 airbench94_muon; do
    python3 .gpu/airbench/run_peer.py "$peer" /tmp/ab --runs "$seeds" > "$out/$peer.log" 2>&1
    tail -n 1 "$out/$peer.log" > "$out/$peer.json"
done
echo
echo "| run | seeds | test accuracy (%) | training seconds | images/s |"
echo "|---|---|---|---|---|"
tail -n 1 "$out/bo.txt"
for peer in airbench94 airbench94_muon; do
    python3 - "$out/$peer.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
# airbench94 and airbench94_muon train 9.9 and 8 epochs of 50,000 images (the
# scripts' own hyperparameters); images/s from their seconds.
epochs = 9.9 if r["script"] == "airbench94" else 8.0
ips = [50000 * epochs / s for s in r["seconds"]]
m = sum(ips) / len(ips)
sd = (sum((x - m) ** 2 for x in ips) / max(len(ips) - 1, 1)) ** 0.5
print(f'| {r["script"]}{" (torch.compile)" if r["compiled"] else ""} | {r["runs"]} | '
      f'{r["test_accuracy_mean"]:.2f} ± {r["test_accuracy_sd"]:.2f} | '
      f'{r["seconds_mean"]:.3f} ± {r["seconds_sd"]:.3f} | {m:.0f} ± {sd:.0f} |')
PY
done
