#!/usr/bin/env bash
# The whole test suite: unit tests of every crate and the end-to-end CLI tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --release --locked --workspace
