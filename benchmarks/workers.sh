#!/usr/bin/env bash
# GP workers that scale (#13): throughput of 1 and of 4 workers on a 1 s
# objective in a 6-dimensional study that already holds BASE trials, and the
# suggestion times over the whole study (p50, p99, max). The strategy runs
# outside the study's lock, so workers suggest at once.
#   benchmarks/workers.sh [BASE] [ADDED]   (defaults 200 and 40; KEEP=1 keeps the study folder)
set -euo pipefail
cd "$(dirname "$0")/.."
BASE="${1:-200}"
ADDED="${2:-40}"
BO="$PWD/target/release/bo"
[ -x "$BO" ] || cargo build --release --bin bo
work="$(mktemp -d)"
trap '[ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"' EXIT
cat > "$work/objective.sh" <<'PROGRAM'
#!/bin/sh
# Sleeps $SLEEP seconds, then prints a smooth function of six parameters.
args="$*"
sleep "${SLEEP:-1}"
echo "$args" | awk '{
    s = 0
    for (i = 1; i <= NF; i++) { split($i, kv, "="); x = kv[2]; s += (x - 0.1 * i) ^ 2 }
    printf "{\"value\": %.17g}\n", s
}'
PROGRAM
cat > "$work/sweep.yaml" <<'SWEEP'
program: objective.sh
command: ["sh", "${program}", "${args}"]
method: bayes
metric: {name: value, goal: minimize}
parameters:
  a: {min: 0.0, max: 1.0}
  b: {min: 0.0, max: 1.0}
  c: {min: 0.0, max: 1.0}
  d: {min: 0.0, max: 1.0}
  e: {min: 0.0, max: 1.0}
  f: {min: 0.0, max: 1.0}
SWEEP
cd "$work"
# Seconds for WORKERS workers to take study STUDY to TARGET trials.
run() {
    local study=$1 target=$2 workers=$3
    local start
    start=$(date +%s.%N)
    "$BO" run --config sweep.yaml --surrogate gp --seed 1 --study "$study" --trials "$target" \
        --workers "$workers" --quiet >/dev/null
    awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }'
}
echo "| workers | trials/s (adding $ADDED at $BASE) | speed-up |"
echo "|---|---|---|"
one=""
for workers in 1 4; do
    study="w$workers"
    SLEEP=0 run "$study" "$BASE" 1 >/dev/null
    seconds=$(SLEEP=1 run "$study" $((BASE + ADDED)) "$workers")
    rate=$(awk -v n="$ADDED" -v t="$seconds" 'BEGIN { printf "%.2f", n / t }')
    one="${one:-$rate}"
    echo "| $workers | $rate | $(awk -v r="$rate" -v o="$one" 'BEGIN { printf "%.2f", r / o }') |"
done
echo
echo "suggestion ms over the 4-worker study ($((BASE + ADDED)) trials): p50, p99, max"
"$BO" export w4 --format json | python3 -c '
import json, sys
s = sorted(t["suggest_seconds"] * 1000 for t in json.load(sys.stdin)["trials"] if t.get("suggest_seconds") is not None)
q = lambda p: s[min(len(s) - 1, int(p * len(s)))]
print(f"{q(0.5):.1f}, {q(0.99):.1f}, {s[-1]:.1f}")'
