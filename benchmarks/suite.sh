#!/usr/bin/env bash
# The suite's tables with the peers, in one command (#13): the peers (Optuna's
# GPSampler and TPE, scikit-optimize, Hyperopt) and bo's strategies on the
# broad suite's 29 problems, and Optuna's GPSampler and TPE and scikit-optimize
# beside them on the LCBench tasks, with the same budgets and seeds, each merged
# into one table with paired Wilcoxon tests. The README's tables are the two
# table.md.
#   benchmarks/suite.sh [SEEDS] [JOBS]   (defaults 20 and the cores)
# Writes suite-results/ (peers.json, results.json, table.md, plots/) and
# suite-results/lcbench/. LCBench's model is read from $BO_LCBENCH_DIR
# (default ../shared/data/lcbench). The peers' venv is made at $BO_PEERS_VENV
# (default ~/.cache/bo/peers) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS="${1:-20}"
JOBS="${2:-$(nproc)}"
VENV="${BO_PEERS_VENV:-$HOME/.cache/bo/peers}"
LCBENCH="${BO_LCBENCH_DIR:-$PWD/../shared/data/lcbench}"
[ -f "$LCBENCH/model.onnx" ] || { echo "no LCBench model at $LCBENCH/model.onnx: set BO_LCBENCH_DIR" >&2; exit 1; }
OUT="$PWD/suite-results"
BO="$PWD/target/release/bo"
cargo build --release --bin bo
if ! "$VENV/bin/python" -c "import optuna, skopt, hyperopt, torch" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet -r benchmarks/peers/requirements.txt
fi
mkdir -p "$OUT"
"$VENV/bin/python" benchmarks/peers/run_peers.py --suite broad --seeds "$SEEDS" --jobs "$JOBS" \
    --peers optuna_gp,optuna_tpe,skopt_gp,hyperopt_tpe --out "$OUT/peers.json"
# bo's studies go to a fresh store: a second run must not reuse an older binary's.
rm -f "$OUT"/bench.db*
"$BO" bench --suite broad --surrogates gp,tpe,lipo,random --budget 40 --seeds "$SEEDS" --jobs "$JOBS" \
    --peers "$OUT/peers.json" --storage "$OUT/bench.db" --out "$OUT"
mkdir -p "$OUT/lcbench"
"$VENV/bin/python" benchmarks/peers/lcbench_peers.py --lcbench-dir "$LCBENCH" --budget 40 --seeds "$SEEDS" \
    --peers optuna_gp,optuna_tpe,skopt_gp --out "$OUT/lcbench/peers.json"
rm -f "$OUT"/lcbench/bench.db*
"$BO" bench --suite lcbench --lcbench-dir "$LCBENCH" --surrogates gp,tpe,lipo,random --budget 40 --seeds "$SEEDS" \
    --jobs "$JOBS" --peers "$OUT/lcbench/peers.json" --storage "$OUT/lcbench/bench.db" --out "$OUT/lcbench"
echo "tables: $OUT/table.md and $OUT/lcbench/table.md" >&2
