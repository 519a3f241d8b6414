#!/usr/bin/env bash
# Startup cost of commands that train nothing: median wall time and peak
# resident memory over N runs (default 20) of `bo --version`, `bo show`,
# `bo studies`, `bo export` and a refused sweep file, beside `bo-train device`
# (which loads libtorch, as every bo command did before the split) measured in
# the same run. Needs target/release/bo and bo-train (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-20}"
bo="$PWD/target/release/bo"
trainer="$PWD/target/release/bo-train"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
cd "$dir"
"$bo" run --objective branin --surrogate random --trials 100 --study s --quiet >/dev/null
printf 'parameters: {x: {min: 1, max: 0}}\n' > bad.yaml

# Median wall milliseconds (with GNU time's own fork included) and median peak KB.
measure() {
    local label="$1"
    shift
    : > ms.txt
    : > kb.txt
    for _ in $(seq "$runs"); do
        local start end
        start="$(date +%s%N)"
        /usr/bin/time -f '%M' -o mem.txt "$@" >/dev/null 2>&1 || true
        end="$(date +%s%N)"
        echo $(((end - start) / 1000)) >> ms.txt
        tail -n 1 mem.txt >> kb.txt
    done
    median() { sort -n "$1" | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
    awk -v l="$label" -v us="$(median ms.txt)" -v k="$(median kb.txt)" \
        'BEGIN {printf "| %s | %.1f | %.1f |\n", l, us / 1000, k / 1024}'
}

echo "| command | median ms | median peak MB |"
echo "|---|---|---|"
measure "bo --version" "$bo" --version
measure "bo show (100 trials)" "$bo" show s
measure "bo studies" "$bo" studies
measure "bo export (100 trials)" "$bo" export s
measure "bo run, refused sweep" "$bo" run --config bad.yaml
measure "bo-train device (loads libtorch)" "$trainer" device
