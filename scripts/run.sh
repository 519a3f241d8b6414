#!/usr/bin/env bash
# The main job: a Gaussian-process study of 40 trials on Hartmann-6, then its table.
# Extra arguments go to `bo run` (e.g. --surrogate tpe, --config sweep.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
study="hartmann6-gp-$(date +%Y%m%d-%H%M%S)"
target/release/bo run --objective hartmann6 --surrogate gp --trials 40 --study "$study" "$@"
target/release/bo show "$study"
