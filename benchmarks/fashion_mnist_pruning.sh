#!/usr/bin/env bash
# Real training with and without pruning: the same GP study of the
# Fashion-MNIST CNN (6 epochs a trial, the default space) with the same seed,
# once with every trial run to its last epoch and once with ASHA (rungs at
# epochs 1 and 3, η = 3). Prints wall time, trials pruned, epochs trained and
# the best validation error of each. Needs scripts/setup.sh's build and
# Debian's dataset-fashion-mnist (or BO_DATA_DIR).
#   benchmarks/fashion_mnist_pruning.sh [TRIALS=20] [SEED=1]
set -euo pipefail
cd "$(dirname "$0")/.."
trials="${1:-20}"
seed="${2:-1}"
bo="$PWD/target/release/bo"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
# The default Fashion-MNIST space, trained for 6 epochs instead of 2.
cat > "$dir/six-epochs.yaml" <<'YAML'
parameters:
  lr: {distribution: log_uniform_values, min: 0.003, max: 0.5}
  batch_size: {distribution: q_log_uniform_values, min: 64, max: 512, q: 8}
  weight_decay: {distribution: log_uniform_values, min: 1.0e-6, max: 1.0e-2}
  label_smoothing: {distribution: uniform, min: 0.0, max: 0.2}
  momentum: {distribution: uniform, min: 0.5, max: 0.98}
  cutout: {distribution: int_uniform, min: 0, max: 10}
  width: {distribution: uniform, min: 0.25, max: 0.75}
  epochs: {value: 6}
YAML
echo "| run | trials | pruned | epochs trained | wall seconds | best validation error (%) |"
echo "|---|---|---|---|---|---|"
for pruner in none asha; do
    settings=()
    [ "$pruner" = asha ] && settings=(--min-resource 1 --max-resource 6)
    start="$(date +%s.%N)"
    "$bo" run --objective fashion-mnist --config "$dir/six-epochs.yaml" --surrogate gp --seed "$seed" \
        --trials "$trials" --study "$pruner" --storage "$dir/bo.db" --pruner "$pruner" \
        "${settings[@]}" --quiet > /dev/null
    end="$(date +%s.%N)"
    "$bo" export "$pruner" --storage "$dir/bo.db" --format json > "$dir/$pruner-export.json"
    python3 - "$dir/$pruner-export.json" "$pruner" "$start" "$end" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
trials = doc["trials"]
pruned = sum(t["state"] == "pruned" for t in trials)
epochs = sum(t["resource"] or 0 for t in trials)
best = min(t["value"] for t in trials if t["state"] == "complete")
print(f"| {sys.argv[2]} | {len(trials)} | {pruned} | {epochs} | {float(sys.argv[4]) - float(sys.argv[3]):.0f} | {best:.2f} |")
PY
done
