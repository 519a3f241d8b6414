#!/usr/bin/env bash
# Installs what building bo needs beyond Rust and Python, then builds it: bo
# (target/release/bo) and its training worker (target/release/bo-train).
# Sourced by run.sh and test.sh so that cargo sees the torch environment it sets.
# Idempotent: a machine that has everything only builds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v cargo >/dev/null; then
    echo "bo needs a Rust toolchain (https://rustup.rs)" >&2
    exit 1
fi
if ! command -v python3 >/dev/null; then
    echo "bo needs python3 (torch's libraries come from pip; tests run small Python objectives)" >&2
    exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
apt_install() {
    echo "installing $* ..." >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}
# ndarray-linalg links the system OpenBLAS (LAPACK).
have_openblas() {
    if command -v dpkg >/dev/null; then
        dpkg -s libopenblas-dev >/dev/null 2>&1
    else
        pkg-config --exists openblas 2>/dev/null
    fi
}
have_openblas || apt_install libopenblas-dev
# The PostgreSQL store's tests start a real server of their own (initdb in a
# temporary folder, a loopback port): Debian's postgresql package. Its TLS
# goes through the system's OpenSSL.
have_postgres() {
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null
}
if command -v apt-get >/dev/null; then
    have_postgres || apt_install postgresql
    dpkg -s libssl-dev >/dev/null 2>&1 || apt_install libssl-dev pkg-config
    # PNG plots set their text in the system's fonts; the dashboard's test
    # drives a real headless Chromium.
    dpkg -s fonts-dejavu-core >/dev/null 2>&1 || apt_install fonts-dejavu-core
    command -v chromium >/dev/null || apt_install chromium
fi

# A fresh venv at $1 (Debian ships venv apart, as python3-venv).
make_venv() {
    if ! python3 -m venv --clear "$1" 2>/dev/null; then
        command -v apt-get >/dev/null && apt_install python3-venv
        python3 -m venv --clear "$1"
    fi
}

# The notebooks run headless in the tests, in a venv of their own outside the checkout.
BO_NOTEBOOK_VENV="${BO_NOTEBOOK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/bo/notebooks}"
NOTEBOOK_PACKAGES="pandas==3.1.1 matplotlib==3.11.2 numpy==2.4.6 nbclient==0.11.0 nbformat==5.11.1 ipykernel==7.4.0"
notebooks_ok() {
    "$BO_NOTEBOOK_VENV/bin/python" -c 'import pandas, matplotlib, nbclient, nbformat, ipykernel' 2>/dev/null
}
if ! notebooks_ok; then
    echo "installing the notebooks' packages into $BO_NOTEBOOK_VENV ..." >&2
    make_venv "$BO_NOTEBOOK_VENV"
    # shellcheck disable=SC2086
    "$BO_NOTEBOOK_VENV/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check $NOTEBOOK_PACKAGES
    notebooks_ok || { echo "the notebooks' packages did not install into $BO_NOTEBOOK_VENV" >&2; exit 1; }
fi
export BO_NOTEBOOK_VENV

# tch 0.24 builds against pip's torch 2.11.0 (LIBTORCH_USE_PYTORCH). The venv
# lives outside the checkout, so every clone and CI run reuses the one install.
BO_TORCH_VENV="${BO_TORCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/bo/torch-2.11.0}"
torch_ok() {
    "$BO_TORCH_VENV/bin/python" -c 'import sys, torch; sys.exit(torch.__version__.split("+")[0] != "2.11.0")' 2>/dev/null
}
if ! torch_ok; then
    echo "installing torch 2.11.0 into $BO_TORCH_VENV (libtorch for tch: about 2.6 GB, once)..." >&2
    make_venv "$BO_TORCH_VENV"
    "$BO_TORCH_VENV/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check torch==2.11.0
    torch_ok || { echo "torch 2.11.0 did not install into $BO_TORCH_VENV" >&2; exit 1; }
fi
export VIRTUAL_ENV="$BO_TORCH_VENV" PATH="$BO_TORCH_VENV/bin:$PATH" LIBTORCH_USE_PYTORCH=1

# bo itself needs no libtorch and builds with plain cargo; only the training
# worker bo-train (the trainer/ crate) links it, with the environment above.
env -u LIBTORCH_USE_PYTORCH -u VIRTUAL_ENV cargo build --release --locked --bins
cargo build --release --locked -p bo-trainer
