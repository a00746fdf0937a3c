#!/usr/bin/env bash
# Issue 23's study of the PINN curve settings on the paper-size PINN zoo (700 models), one GPU:
# train the zoo once, then measure mode connectivity with the curves trained as each entry of
# VARIANTS says (OPTIMIZER-EPOCHS, 100 steps an epoch; default "sgd-10 adam-500": the original's
# SGD at lr 1e-2 for 1,000 steps, and the paper spec's Adam at lr 1e-3 for 50,000), each on its own
# copy of the zoo, and keep what decides whether a barrier is real: per cell the mc values, the
# share of seed pairs whose curve stopped falling (`curve_converged`, docs/METRICS.md), the labels.
#
#   bench/pinn-curves-gpu.sh PHASEZOO_BINARY [OUT]
#
# DEVICE: where to run (default cuda; cpu for a dry run of the script on a small TRAIN_SET).
# TRAIN_SET: more --set overrides for the training (e.g. "--set grid.seeds=[0,1,2]": every seed pair
# of a cell gets a curve, 10 a cell with the spec's 5 seeds, 3 with 3).
#
# OUT gets, per variant V: phases-V.txt (`phasezoo phases`), index-V.csv (the labelled index),
# metrics-V.tgz (every model's metrics.json, with the curves' per-epoch fit losses) and
# summary-V.md (bench/pinn_curve_summary.py, where python3 is found).
set -euo pipefail
bin=${1:?usage: bench/pinn-curves-gpu.sh PHASEZOO_BINARY [OUT]}
out=${2:-${OUT:-.}}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PHASEZOO_NO_PROGRESS=1
secs() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; } # no bc on the GPU machine
t=$(date +%s.%N)
# shellcheck disable=SC2086 # TRAIN_SET is split into its --set arguments
"$bin" train "$here/examples/convection-paper.toml" --out "$work/zoo" --device "${DEVICE:-cuda}" --no-plot --no-metrics \
  --set 'problem.derivatives="forward"' ${TRAIN_SET:-} 2>&1 | tail -2
echo "train wall $(secs "$t") s"
for v in ${VARIANTS:-sgd-10 adam-500}; do
  opt=${v%-*} e=${v#*-}
  lr=0.001
  [ "$opt" = sgd ] && lr=0.01
  cp -a "$work/zoo" "$work/zoo-$v"
  # The curve's settings live in the zoo's resolved spec; everything else stays as trained.
  sed -i "/^\[metrics.curve\]/,/^\[/ { s/^epochs = .*/epochs = $e/; s/^lr = .*/lr = $lr/; s/^optimizer = .*/optimizer = \"$opt\"/ }" \
    "$work/zoo-$v/zoo.toml"
  grep -A9 '^\[metrics.curve\]' "$work/zoo-$v/zoo.toml" | grep -E '^(epochs|lr|optimizer) '
  t=$(date +%s.%N)
  "$bin" metrics "$work/zoo-$v" --only mc,cka --device "${DEVICE:-cuda}" 2>&1 | tail -2
  echo "mc variant=$v wall $(secs "$t") s"
  "$bin" phases "$work/zoo-$v" > "$out/phases-$v.txt" 2>&1 || true
  cp "$work/zoo-$v/index.csv" "$out/index-$v.csv"
  tar czf "$out/metrics-$v.tgz" -C "$work/zoo-$v" $(cd "$work/zoo-$v" && find models -name metrics.json)
  if command -v "${PYTHON:-python3}" > /dev/null; then
    "${PYTHON:-python3}" "$here/bench/pinn_curve_summary.py" "$work/zoo-$v" > "$out/summary-$v.md" || true
  fi
  rm -rf "$work/zoo-$v"
done
