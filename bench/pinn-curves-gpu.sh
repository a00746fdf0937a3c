#!/usr/bin/env bash
# Issue 23's study of the PINN curve settings on the paper-size PINN zoo (700 models), one GPU:
# train the zoo once, then measure mode connectivity with the curves trained for each number of
# epochs in EPOCHS (default "10 50"; 100 SGD steps an epoch), each on its own copy of the zoo, and
# keep what decides whether a barrier is real: per cell the mc values, the share of seed pairs
# whose curve stopped falling (`curve_converged`, the 1 % rule of docs/METRICS.md), the labels.
#
#   bench/pinn-curves-gpu.sh PHASEZOO_BINARY [OUT]
#
# OUT gets, per E: phases-E.txt (`phasezoo phases`), index-E.csv (the labelled index) and
# metrics-E.tgz (every model's metrics.json, with the curves' per-epoch fit losses).
set -euo pipefail
bin=${1:?usage: bench/pinn-curves-gpu.sh PHASEZOO_BINARY [OUT]}
out=${2:-${OUT:-.}}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PHASEZOO_NO_PROGRESS=1
secs() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; } # no bc on the GPU machine
t=$(date +%s.%N)
"$bin" train "$here/examples/convection-paper.toml" --out "$work/zoo" --device cuda --no-plot --no-metrics \
  --set 'problem.derivatives="forward"' 2>&1 | tail -2
echo "train wall $(secs "$t") s"
for e in ${EPOCHS:-10 50}; do
  cp -a "$work/zoo" "$work/zoo-$e"
  # The curve's epochs live in the zoo's resolved spec; everything else stays as trained.
  sed -i "/^\[metrics.curve\]/,/^\[/ s/^epochs = .*/epochs = $e/" "$work/zoo-$e/zoo.toml"
  grep -A1 '^\[metrics.curve\]' "$work/zoo-$e/zoo.toml" | tail -1
  t=$(date +%s.%N)
  "$bin" metrics "$work/zoo-$e" --only mc --device cuda 2>&1 | tail -2
  echo "mc epochs=$e wall $(secs "$t") s"
  "$bin" phases "$work/zoo-$e" > "$out/phases-$e.txt" 2>&1 || true
  cp "$work/zoo-$e/index.csv" "$out/index-$e.csv"
  tar czf "$out/metrics-$e.tgz" -C "$work/zoo-$e" $(cd "$work/zoo-$e" && find models -name metrics.json)
  rm -rf "$work/zoo-$e"
done
