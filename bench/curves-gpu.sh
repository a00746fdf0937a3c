#!/usr/bin/env bash
# Packed and unpacked training of the same Fashion-MNIST models on one GPU: `phasezoo train`
# with its defaults (8 workers per GPU, CUDA graphs) against one model at a time with every kernel
# eager (--jobs 1, run.graph=false); then bench/compare_curves.py sets the run-to-run differences
# of each model's curves beside the seed-to-seed differences within a cell.
#
#   bench/curves-gpu.sh PHASEZOO_BINARY FASHION_MNIST_DIR
#
# The grid: widths 8 and 32 × batches 64 and 256 × seeds 0, 1, 2, three epochs over the example's
# 10,000-image subset (examples/fashion-resnet18-small.toml). ONE=1 adds a run one model at a
# time with graphs on (--jobs 1), compared with the eager one too.
set -euo pipefail
bin=${1:?usage: bench/curves-gpu.sh PHASEZOO_BINARY FASHION_MNIST_DIR}
data=${2:?usage: bench/curves-gpu.sh PHASEZOO_BINARY FASHION_MNIST_DIR}
py=${PYTHON:-python3}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
"$bin" data fetch fashion-mnist --from "$data" --data-dir "$dir/data"
train() {
  local out=$1; shift
  local start end
  start=$(date +%s%N)
  PHASEZOO_NO_PROGRESS=1 "$bin" train "$here/../examples/fashion-resnet18-small.toml" --out "$out" \
    --device cuda --data-dir "$dir/data" --no-plot --set "grid.load.values=[8,32]" \
    --set "grid.temperature.values=[64,256]" --set "grid.seeds=[0,1,2]" "$@"
  end=$(date +%s%N)
  echo "$(basename "$out") wall_ms=$(( (end - start) / 1000000 ))"
}
train "$dir/packed"
train "$dir/alone" --jobs 1 --set run.graph=false
[ "${ONE:-0}" = 1 ] && train "$dir/one" --jobs 1
for metric in test_acc train_loss; do
  "$py" "$here/compare_curves.py" "$dir/packed" "$dir/alone" --metric "$metric"
  [ "${ONE:-0}" = 1 ] && "$py" "$here/compare_curves.py" "$dir/one" "$dir/alone" --metric "$metric"
done
"$bin" status "$dir/packed" | tail -1
