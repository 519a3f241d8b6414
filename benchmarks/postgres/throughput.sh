#!/usr/bin/env bash
# Trial throughput of 8 workers on a 0.1 s objective, with 100 and with
# 10,000 trials in the study already (README, "Many machines"): the time per
# trial must not grow with the study. Each measurement adds ADDED trials
# (default 400), REPEATS times in a row (default 3); medians. Both stores, the same
# objective, strategy and seed.
#   benchmarks/postgres/throughput.sh [ADDED] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/../.."
ADDED="${1:-400}"
REPEATS="${2:-3}"
WORKERS=8
. benchmarks/postgres/server.sh
work="$PG_WORK"
cd "$work"

# Runs WORKERS workers on STUDY in STORE until it holds TARGET trials, each
# trial sleeping SLEEP seconds; prints the seconds it took.
fill() {
    local store=$1 study=$2 target=$3
    local start
    start=$(date +%s.%N)
    for _ in $(seq 1 "$WORKERS"); do
        "$BO" run --config sweep.yaml --surrogate random --seed 1 --study "$study" --trials "$target" \
            --storage "$store" --quiet >/dev/null &
    done
    wait
    awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.3f\n", e - s }'
}
# The median time the strategy took per suggestion (reading the history
# included) over the study's last N trials, in ms.
suggest_ms() {
    local store=$1 study=$2 n=$3
    local query="SELECT suggest_seconds FROM trials t JOIN studies s ON s.id = t.study_id WHERE s.name = '$study' ORDER BY t.number DESC LIMIT $n"
    if [ "$store" = "$PG_URL" ]; then
        pg_sql "SET search_path = bo; $query"
    else
        python3 -c 'import sqlite3, sys; [print(r[0]) for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])]' "$store" "$query"
    fi | median | awk '{ printf "%.2f", 1000 * $1 }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "| store | trials in the study | trials/s (median of $REPEATS × $ADDED trials) | ms per trial per worker | strategy ms per suggestion (median) |"
echo "|---|---|---|---|---|"
for store in "$PG_URL" "$work/bo.db"; do
    name=$([ "$store" = "$PG_URL" ] && echo PostgreSQL || echo SQLite)
    for base in 100 10000; do
        # The study's earlier trials come fast (no sleep), once; the 8 workers
        # then add ADDED trials of 0.1 s each, REPEATS times in a row.
        SLEEP=0 fill "$store" "s$base" "$base" >/dev/null
        seconds=$(for r in $(seq 1 "$REPEATS"); do
            SLEEP=0.1 fill "$store" "s$base" $((base + r * ADDED))
        done | median)
        strategy=$(suggest_ms "$store" "s$base" $((REPEATS * ADDED)))
        awk -v t="$seconds" -v n="$ADDED" -v w="$WORKERS" -v s="$name" -v b="$base" -v m="$strategy" \
            'BEGIN { printf "| %s | %d | %.1f | %.0f | %s |\n", s, b, n / t, 1000 * t * w / n, m }'
    done
done
echo
echo "ideal: $WORKERS workers / 0.1 s = $((WORKERS * 10)) trials/s; 100 ms per trial per worker"
