#!/usr/bin/env bash
# The whole test suite: unit tests of every crate and the end-to-end CLI tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
# The LCBench surrogate's reference vectors need YAHPO's model, kept in
# ../shared/data/lcbench on the project's machines; without it that test skips.
if [ -z "${BO_LCBENCH_DIR:-}" ] && [ -f ../shared/data/lcbench/model.onnx ]; then
    export BO_LCBENCH_DIR="$(cd ../shared/data/lcbench && pwd)"
fi
if [ -z "${BO_LCBENCH_DIR:-}" ]; then
    echo "NOTE: the LCBench surrogate was not found (set BO_LCBENCH_DIR): its reference-vector test is SKIPPED" >&2
fi
# The core (bo, the strategies, the benchmarks) with plain cargo: no libtorch.
env -u LIBTORCH_USE_PYTORCH -u VIRTUAL_ENV cargo test --release --locked
# The training worker, with the torch environment setup.sh exported.
cargo test --release --locked -p bo-trainer
