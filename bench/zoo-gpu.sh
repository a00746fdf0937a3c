#!/usr/bin/env bash
# The ResNet-18 zoo grid on one GPU (issue 7): phasezoo packed (8 workers, own CUDA streams,
# whole-step CUDA graphs) against (a) PyTorch eager, one cell at a time as the original ran, and
# (b) PyTorch with the same streams + graphs packing (bench/resnet_zoo_pytorch.py), in one call.
#
#   bench/zoo-gpu.sh PHASEZOO_BINARY [IMAGES] [EPOCHS]
#
# Every cell trains EPOCHS epochs (default 2) over IMAGES random Fashion-MNIST-shaped images
# (default 4096) made on the GPU. WIDTHS and BATCHES override the paper's grid (8 × 8);
# MODES picks runs (default "packed eager-a-proc packed-b", the issue's three systems, about 16
# minutes on an H200): phasezoo packed; PyTorch (a) as the original ran: each cell in a new Python
# process (the original's Ray Tune ran each trial in a new actor, reuse_actors=False),
# cudnn.deterministic, images on the CPU, torchvision transforms in 6 DataLoader workers, each
# batch then moved to the GPU (needs torchvision); PyTorch (b). Also "one" (phasezoo one cell at
# a time, graphs on), "eager-a-orig" (eager-a-proc with every cell in one process), "eager-a"
# ((a) in one process with the data kept and augmented on the GPU, as the figures before
# 2026-12-03 were measured), "eager-a-fast" (eager-a with cuDNN free to pick nondeterministic
# algorithms), "eager" (phasezoo one cell at a time without graphs), "one-nchw" and
# "packed-nchw" (phasezoo with every model contiguous instead of run.layout's auto choice),
# "one-bf16", "eager-a-bf16", "packed-bf16" and "packed-b-bf16" (bf16 autocast), "one-autotune"
# and "packed-autotune" (cuDNN autotuning, `cudnn.benchmark`, for every cell).
set -euo pipefail
bin=${1:?usage: bench/zoo-gpu.sh PHASEZOO_BINARY [IMAGES] [EPOCHS]}
images=${2:-4096}
epochs=${3:-2}
widths=${WIDTHS:-2,4,8,16,32,64,128,256}
batches=${BATCHES:-8,16,32,64,128,256,512,1024}
py=${PYTHON:-python3}
here=$(cd "$(dirname "$0")" && pwd)
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
"$py" -c 'import torch; print("torch", torch.__version__)'
common=(--widths "$widths" --batches "$batches" --images "$images" --epochs "$epochs")
for mode in ${MODES:-packed eager-a-proc packed-b}; do
  case $mode in
    packed) "$bin" bench resnet --device cuda "${common[@]}" | sed 's/^/packed /' ;;
    one) "$bin" bench resnet --device cuda --jobs 1 "${common[@]}" | sed 's/^/one /' ;;
    eager) "$bin" bench resnet --device cuda --jobs 1 --eager "${common[@]}" | sed 's/^/eager /' ;;
    eager-a) "$py" "$here/resnet_zoo_pytorch.py" --mode eager --deterministic "${common[@]}" | sed 's/^/eager-a /' ;;
    eager-a-orig) "$py" "$here/resnet_zoo_pytorch.py" --mode eager --deterministic --data loader "${common[@]}" | sed 's/^/eager-a-orig /' ;;
    eager-a-proc) "$py" "$here/resnet_zoo_pytorch.py" --mode eager --deterministic --data loader --process-per-cell "${common[@]}" | sed 's/^/eager-a-proc /' ;;
    eager-a-fast) "$py" "$here/resnet_zoo_pytorch.py" --mode eager "${common[@]}" | sed 's/^/eager-a-fast /' ;;
    one-nchw) "$bin" bench resnet --device cuda --jobs 1 --layout contiguous "${common[@]}" | sed 's/^/one-nchw /' ;;
    one-bf16) "$bin" bench resnet --device cuda --jobs 1 --precision bf16_autocast "${common[@]}" | sed 's/^/one-bf16 /' ;;
    eager-a-bf16) "$py" "$here/resnet_zoo_pytorch.py" --mode eager --deterministic --bf16 "${common[@]}" | sed 's/^/eager-a-bf16 /' ;;
    packed-b) "$py" "$here/resnet_zoo_pytorch.py" --mode packed --jobs 8 "${common[@]}" | sed 's/^/packed-b /' ;;
    one-autotune) "$bin" bench resnet --device cuda --jobs 1 --cudnn-benchmark "${common[@]}" | sed 's/^/one-autotune /' ;;
    packed-autotune) "$bin" bench resnet --device cuda --cudnn-benchmark "${common[@]}" | sed 's/^/packed-autotune /' ;;
    packed-nchw) "$bin" bench resnet --device cuda --layout contiguous "${common[@]}" | sed 's/^/packed-nchw /' ;;
    packed-bf16) "$bin" bench resnet --device cuda --precision bf16_autocast "${common[@]}" | sed 's/^/packed-bf16 /' ;;
    packed-b-bf16) "$py" "$here/resnet_zoo_pytorch.py" --mode packed --jobs 8 --bf16 "${common[@]}" | sed 's/^/packed-b-bf16 /' ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
  esac
done
