#!/usr/bin/env bash
# ResNet-18 on Fashion-MNIST-shaped data on one GPU: phasezoo against PyTorch eager with the same
# recipe (bench/resnet_pytorch.py), float32 and bf16 autocast, in one invocation on one machine;
# then the Fashion-MNIST grid end to end with `phasezoo train` at one epoch.
#
#   bench/resnet-gpu.sh PHASEZOO_BINARY FASHION_MNIST_DIR [STEPS]
#
# Per cell: STEPS timed optimizer steps after STEPS warm-up steps (default 20). E2E=0 skips the
# end-to-end grid (E2E_JOBS="1 4" by default: its --jobs values); CHANNELS_LAST=1 adds
# channels-last runs of both systems. The grid line of
# each run is all images (warm-up included) over the run's wall time; phasezoo's --jobs 4 trains
# four cells at once on the GPU.
set -euo pipefail
bin=${1:?usage: bench/resnet-gpu.sh PHASEZOO_BINARY FASHION_MNIST_DIR [STEPS]}
data=${2:?usage: bench/resnet-gpu.sh PHASEZOO_BINARY FASHION_MNIST_DIR [STEPS]}
steps=${3:-20}
widths=${WIDTHS:-4,16,64,128}
batches=${BATCHES:-16,64,256,1024}
py=${PYTHON:-python3}
here=$(cd "$(dirname "$0")" && pwd)
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
"$py" -c 'import torch; print("torch", torch.__version__)'
layouts=("")
[ "${CHANNELS_LAST:-0}" = 1 ] && layouts+=("--channels-last")
for layout in "${layouts[@]}"; do
  for precision in float32 bf16_autocast; do
    for jobs in 1 4; do
      "$bin" bench resnet --device cuda --widths "$widths" --batches "$batches" --steps "$steps" \
        --precision "$precision" --jobs "$jobs" $layout | sed 's/^/phasezoo /'
    done
    flag=""; [ "$precision" = bf16_autocast ] && flag="--bf16"
    "$py" "$here/resnet_pytorch.py" --widths "$widths" --batches "$batches" --steps "$steps" $flag $layout
  done
done
[ "${E2E:-1}" = 0 ] && exit 0
# End to end: the real dataset, imported from its IDX files, the grid at one epoch.
dir=$(mktemp -d)
"$bin" data fetch fashion-mnist --from "$data" --data-dir "$dir/data"
for jobs in ${E2E_JOBS:-1 4}; do
  start=$(date +%s%N)
  PHASEZOO_NO_PROGRESS=1 "$bin" train "$here/../examples/fashion-resnet18-small.toml" --out "$dir/zoo$jobs" \
    --device cuda --jobs "$jobs" --data-dir "$dir/data" --no-plot --set train.epochs=1 \
    --set problem.train_subset=0 --set problem.test_subset=0 --set problem.augment=true \
    --set "grid.load.values=[$widths]" --set "grid.temperature.values=[$batches]"
  end=$(date +%s%N)
  echo "phasezoo train grid jobs=$jobs wall_ms=$(( (end - start) / 1000000 )) (60k images x 1 epoch per cell, evaluation and checkpoints included)"
done
"$bin" status "$dir/zoo4" | tail -1
python3 - "$dir/zoo4" <<'PY' || true
import csv, json, os, sys
zoo = sys.argv[1]
for row in csv.DictReader(open(os.path.join(zoo, "index.csv"))):
    last = [json.loads(l) for l in open(os.path.join(zoo, "models", row["model_id"], "result.json"))][-1]
    print("cell width", row["load_value"], "batch", row["temperature_value"], "test_acc", round(last["test_acc"], 4))
PY
