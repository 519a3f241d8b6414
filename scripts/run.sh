#!/usr/bin/env bash
# The main job: a Gaussian-process search of a network's hyperparameters, then
# its table. With a CUDA GPU: the fast CIFAR-10 network (data from --data-dir /
# BO_DATA_DIR, else downloaded into data/). Without one: a small CNN on
# Fashion-MNIST, a few minutes on 2 cores.
# Extra arguments go to `bo run` (e.g. --surrogate tpe, --trials 50, --config sweep.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
if target/release/bo device | grep -q '^cuda'; then
    dataset=cifar10 trials=30
else
    dataset=fashion-mnist trials=20
    if [ -z "${BO_DATA_DIR:-}" ] && [ ! -d /usr/share/datasets/fashion-mnist ]; then
        apt_install dataset-fashion-mnist
    fi
fi
study="$dataset-gp-$(date +%Y%m%d-%H%M%S)"
# The caller's own --trials wins over the default.
case " $* " in *" --trials "* | *" --trials="*) ;; *) set -- --trials "$trials" "$@" ;; esac
target/release/bo run --objective "$dataset" --surrogate gp --study "$study" "$@"
target/release/bo show "$study"
