#!/usr/bin/env bash
# The LLC over training for a whole zoo on one GPU (issue 21): phasezoo (every model of a
# checkpoint epoch sampled at once, batched over the population) against devinterp 1.3.2 one
# model at a time (bench/llc_speed_devinterp.py), same settings, same machine, one call.
#
#   bench/llc-gpu.sh PHASEZOO_BINARY [DEVINTERP_MODELS]
#
# Trains examples/grokking-modadd.toml (36 models, checkpoints at epochs 0, 10, ..., 40: 180
# estimates) on cuda, adds [metrics.llc] (LLC_SETTINGS, default 4 chains x 500 draws, 100
# burn-in, eps 1e-4, gamma 100), times `phasezoo metrics --only llc --all-epochs`, then devinterp
# over the first DEVINTERP_MODELS models' checkpoints (default 4; the zoo's total extrapolated from
# its mean unless that covers every model). devinterp must import (PYTHONPATH: a --target
# install of devinterp==1.3.2 with cloudpickle and einops). OUT: where the logs go (default .).
set -euo pipefail
# (awk, not bc, for the arithmetic: the GPU machine has no bc.)
bin=$(realpath "${1:?usage: bench/llc-gpu.sh PHASEZOO_BINARY [DEVINTERP_MODELS]}")
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
out=${OUT:-.}
zoo=$(mktemp -d)/zoo
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
PHASEZOO_NO_PROGRESS=1 "$bin" train "$here/../examples/grokking-modadd.toml" --out "$zoo" --device cuda --no-plot 2>&1 | tail -1
printf '\n[metrics.llc]\n%s\n' "${LLC_SETTINGS:-epsilon = 1e-4
gamma = 100.0
chains = 4
draws = 500
burn_in = 100
seed = 0}" >> "$zoo/zoo.toml"
start=$(date +%s.%N)
PHASEZOO_NO_PROGRESS=1 "$bin" metrics "$zoo" --only llc --all-epochs --device cuda 2>&1 | tail -2
echo "{\"phasezoo_llc_zoo_seconds\": $(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.2f", a - b }')}" | tee "$out/llc-phasezoo.json"
"$py" "$here/llc_speed_devinterp.py" --zoo "$zoo" --device cuda --models "${2:-4}" | tee "$out/llc-devinterp.jsonl"
