#!/usr/bin/env bash
# Reliability of a PostgreSQL study under failure (README, "Many machines"):
# 8 workers on one study; a random worker killed with kill -9 and restarted,
# 20 times; the server restarted once midway. Counts completed trials lost,
# duplicate numbers and suggestions, trials left running, and the total
# against the target.
#   benchmarks/postgres/reliability.sh [TRIALS]   (default 1000; objective 0.2 s)
set -euo pipefail
cd "$(dirname "$0")/../.."
TRIALS="${1:-1000}"
WORKERS=8
KILLS=20
. benchmarks/postgres/server.sh
work="$PG_WORK"
cd "$work"
export SLEEP=0.2
worker() {
    "$BO" run --config sweep.yaml --surrogate tpe --seed 1 --study reliability --trials "$TRIALS" \
        --storage "$PG_URL" --quiet --heartbeat-timeout 15 >>"$work/out.log" 2>>"$work/err.log" &
    pids[$1]=$!
}
declare -a pids
for i in $(seq 0 $((WORKERS - 1))); do worker "$i"; done
complete_now() { pg_sql "SELECT number || ' ' || value FROM bo.trials WHERE state = 'complete'" 2>/dev/null || true; }
start=$(date +%s.%N)
for k in $(seq 1 "$KILLS"); do
    sleep "$(awk -v r="$RANDOM" 'BEGIN { print 0.5 + r / 32767 }')"
    complete_now >> seen
    victim=$((RANDOM % WORKERS))
    kill -9 "${pids[$victim]}" 2>/dev/null || true
    wait "${pids[$victim]}" 2>/dev/null || true
    if [ "$k" -eq $((KILLS / 2)) ]; then
        # The 7 running workers ride out the restart; a worker started while
        # the server is down would exit with a refused connection, so the
        # victim comes back after it.
        echo "kill $k: restarting the server" >&2
        pg_restart
    fi
    worker "$victim"
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
seconds=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
complete_now | sort -u > final
sort -u seen > seen.sorted
lost=$(comm -23 seen.sorted final | wc -l)
q() { pg_sql "$1"; }
counted=$(q "SELECT count(*) FROM bo.trials WHERE NOT abandoned AND retest_of IS NULL")
completed=$(q "SELECT count(*) FROM bo.trials WHERE state = 'complete'")
abandoned=$(q "SELECT count(*) FROM bo.trials WHERE abandoned")
running=$(q "SELECT count(*) FROM bo.trials WHERE state = 'running'")
dup_numbers=$(q "SELECT count(*) - count(DISTINCT (study_id, number)) FROM bo.trials")
dup_params=$(q "SELECT count(*) - count(DISTINCT params) FROM bo.trials WHERE NOT abandoned")
# A killed trial's configuration, never evaluated, may be proposed again.
again=$(q "SELECT count(*) FROM bo.trials a WHERE a.abandoned AND EXISTS (SELECT 1 FROM bo.trials b WHERE b.params = a.params AND b.id <> a.id)")
cat <<REPORT
workers $WORKERS, kill -9 and restart $KILLS times, server restarted once, target $TRIALS trials, $seconds s
completed trials seen during the run: $(wc -l < seen.sorted); of them lost: $lost
duplicate trial numbers: $dup_numbers; duplicate suggestions among counted trials: $dup_params
killed trials whose configuration was proposed again (it had no result): $again
trials left running: $running; trials of killed workers (abandoned, not counted): $abandoned
counted trials: $counted against target $TRIALS; complete: $completed; workers that exited non-zero: $failed
REPORT
if [ "$failed" -gt 0 ]; then sort "$work/err.log" | uniq -c | sort -rn | head -5 >&2; fi
if [ "$dup_params" -gt 0 ]; then
    echo "suggested more than once (number:state:abandoned):" >&2
    pg_sql "SELECT string_agg(number || ':' || state, ' ') FROM bo.trials WHERE NOT abandoned GROUP BY params HAVING count(*) > 1" >&2
fi
