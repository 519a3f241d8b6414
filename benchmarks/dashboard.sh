#!/usr/bin/env bash
# The dashboard on a large store (#15): median response times of its JSON
# endpoints and of every plot for a study of TRIALS trials, and whether
# polling it slows a running study (the study's wall time alone and with the
# dashboard read every 0.2 s, medians over REPEATS).
#   benchmarks/dashboard.sh [TRIALS] [REPEATS]   (defaults 10000 and 5)
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS="${1:-10000}"
REPEATS="${2:-5}"
BO="$PWD/target/release/bo"
[ -x "$BO" ] || cargo build --release --bin bo
work="$(mktemp -d)"
dashboard=""
trap '[ -n "$dashboard" ] && kill "$dashboard" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "filling a store with $TRIALS trials (random search on hartmann6 with noise)..." >&2
"$BO" run --objective hartmann6 --noise 0.1 --surrogate random --trials "$TRIALS" --study big --seed 1 >/dev/null 2>&1
"$BO" dashboard --port 0 > dashboard.out &
dashboard=$!
until grep -q http dashboard.out; do sleep 0.1; done
url="$(grep -o 'http://[^ ]*' dashboard.out)"

echo "response times with $TRIALS trials, median of $REPEATS (ms):"
for path in "api/studies" "api/trials?study=big&sort=value" "api/trials?study=big&sort=x3&desc=true" \
    plot?study=big\&kind={history,parallel,importance,slice,contour,intermediate}; do
    times="$(for _ in $(seq "$REPEATS"); do
        curl -s -o body -w '%{time_total}\n' "$url$path"
    done)"
    printf '  %-42s %8.1f ms  %9d bytes\n' "$path" "$(echo "$times" | median | awk '{ print $1 * 1000 }')" "$(wc -c < body)"
done

cat > objective.sh <<'PROGRAM'
#!/bin/sh
echo "$*" | awk '{ split($1, kv, "="); printf "{\"value\": %.17g}\n", kv[2] * kv[2] }'
PROGRAM
cat > sweep.yaml <<'SWEEP'
program: objective.sh
command: ["sh", "${program}", "${args}"]
metric: {name: value, goal: minimize}
parameters:
  x: {min: -1.0, max: 1.0}
SWEEP
echo "a 300-trial study of a program alone and with the dashboard read every 0.2 s (wall s, median of $REPEATS):"
run_study() {
    local start end
    start=$(date +%s.%N)
    "$BO" run --config sweep.yaml --surrogate random --trials 300 --study "$1" --seed 2 >/dev/null 2>&1
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
}
alone="$(for i in $(seq "$REPEATS"); do run_study "alone-$i"; done | median)"
polled="$(for i in $(seq "$REPEATS"); do
    (while true; do curl -s -o /dev/null "${url}api/trials?study=polled-$i"; curl -s -o /dev/null "${url}api/studies"; sleep 0.2; done) &
    poller=$!
    run_study "polled-$i"
    kill "$poller"
done | median)"
printf '  alone %.2f s, polled %.2f s, ratio %.2f\n' "$alone" "$polled" "$(echo "$polled / $alone" | bc -l)"
