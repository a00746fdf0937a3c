#!/usr/bin/env bash
# The Fashion-MNIST ResNet-18 validation zoo of the phase labels (issue 23) on one GPU, in steps
# that each fit one device call; every step resumes what an earlier (killed) one left.
#
#   bench/validation-zoo-gpu.sh PHASEZOO_BINARY ZOO_DIR STEP [OUT]
#
# STEP: `train` (imports Fashion-MNIST from .devdata/ or $FASHION_FROM, then trains the zoo),
# `metrics` (Hessian, CKA, curves), `apply` (the applications of issue 18, or those in $APPS), `label` (phases, plot, report; copies the small results to
# OUT). Each step prints its wall time. The spec is examples/fashion-resnet18-validation.toml.
set -euo pipefail
bin=${1:?usage: bench/validation-zoo-gpu.sh PHASEZOO_BINARY ZOO_DIR STEP [OUT]}
zoo=${2:?zoo folder}
step=${3:?train, metrics, apply or label}
out=${4:-${OUT:-.}}
here=$(cd "$(dirname "$0")/.." && pwd)
spec=$here/examples/fashion-resnet18-validation.toml
export PHASEZOO_DATA=${PHASEZOO_DATA:-$here/.devdata/cache} PHASEZOO_NO_PROGRESS=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
since() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; } # no bc on the GPU machine
start=$(date +%s.%N)
case $step in
  train)
    [ -d "$PHASEZOO_DATA/fashion-mnist" ] || "$bin" data fetch fashion-mnist --from "${FASHION_FROM:-$here/.devdata}"
    "$bin" train "$spec" --out "$zoo" --no-plot -v
    ;;
  metrics) "$bin" metrics "$zoo" -v ;;
  apply)
    # Issue 18: every application over every cell, each timed.
    for app in ${APPS:-average-epochs average-seeds interpolate ensemble}; do
      t=$(date +%s.%N)
      "$bin" apply "$app" "$zoo" -v
      echo "apply $app wall $(since "$t") s"
    done
    ;;
  label)
    "$bin" phases "$zoo" | tee "$out/phases.txt"
    "$bin" plot "$zoo" --out "$out/plots"
    "$bin" report "$zoo" --out "$out/report"
    cp "$zoo"/index.csv "$out/" 2>/dev/null || true
    find "$zoo" -name metrics.json -newer "$spec" | head -1 | xargs -r -I{} cp {} "$out/one-metrics.json"
    tar czf "$out/results.tgz" -C "$zoo" --exclude='checkpoint_*' .
    ;;
  *) echo "unknown step $step" >&2; exit 2 ;;
esac
echo "step $step wall $(since "$start") s"
