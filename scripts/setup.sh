#!/usr/bin/env bash
# Installs what building bo needs beyond Rust and Python, then builds it.
# Idempotent: a machine that has everything only builds.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
    echo "bo needs a Rust toolchain (https://rustup.rs)" >&2
    exit 1
fi
if ! command -v python3 >/dev/null; then
    echo "bo's tests run small Python programs as objectives: install python3" >&2
    exit 1
fi
# ndarray-linalg links the system OpenBLAS (LAPACK).
have_openblas() {
    if command -v dpkg >/dev/null; then
        dpkg -s libopenblas-dev >/dev/null 2>&1
    else
        pkg-config --exists openblas 2>/dev/null
    fi
}
if ! have_openblas; then
    echo "installing libopenblas-dev (LAPACK for the GP)..." >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libopenblas-dev >/dev/null
fi
cargo build --release --locked --workspace --bins
