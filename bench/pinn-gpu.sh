#!/usr/bin/env bash
# The paper-size PINN zoo (700 models) on one GPU: phasezoo (one population) against PyTorch
# (a) one model at a time and (b) a fused PyTorch population, in one invocation on one machine.
#
#   bench/pinn-gpu.sh PHASEZOO_BINARY [STEPS]
#
# STEPS optimizer steps per model (default 1000 = 10 epochs of 100). phasezoo runs with its steps
# as CUDA graphs (run.graph=true, the default) and without (GRAPHS="true false" by default), in
# each of MODES (default "autograd forward-tensors forward"): the double backward, forward mode
# with libtorch's tensor operations (run.fused_kernels=false), forward mode with phasezoo's fused
# kernels, and "forward-cached": the same as forward, listed after it, so that it loads the kernels
# forward compiled. The bench starts with an empty kernel cache (PHASEZOO_KERNEL_CACHE set to a new
# folder), so the first fused run pays NVRTC's compile as a zoo's first run on a machine does, and
# forward-cached runs as every later run there does.
# phasezoo's rate counts the
# training steps only (its log line "population finished" splits step time from evaluation and
# file writing, which it also reports); PyTorch's rates come from bench/pinn_pytorch.py. Both
# PyTorch figures leave out 10 warm-up steps; phasezoo's model_steps_per_sec includes its first
# epoch's one-off costs (kernel compilation, the graph capture) and steady_model_steps_per_sec
# leaves out that first epoch (100 steps).
set -euo pipefail
bin=${1:?usage: bench/pinn-gpu.sh PHASEZOO_BINARY [STEPS]}
steps=${2:-1000}
epochs=$((steps / 100))
py=${PYTHON:-python3}
here=$(cd "$(dirname "$0")" && pwd)
PHASEZOO_KERNEL_CACHE=$(mktemp -d)
export PHASEZOO_KERNEL_CACHE
trap 'rm -rf "$PHASEZOO_KERNEL_CACHE"' EXIT
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
"$py" -c 'import torch; print("torch", torch.__version__)'
for graph in ${GRAPHS:-true false}; do
for mode in ${MODES:-autograd forward-tensors forward forward-cached}; do
  case $mode in
    autograd) keys=(--set 'problem.derivatives="autograd"') ;;
    forward-tensors) keys=(--set 'problem.derivatives="forward"' --set run.fused_kernels=false) ;;
    forward | forward-cached) keys=(--set 'problem.derivatives="forward"' --set run.fused_kernels=true) ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
  esac
  out=$(mktemp -d)
  start=$(date +%s%N)
  RUST_LOG=pz_train=info,phasezoo=warn,pz_models=warn,pz_device=info PHASEZOO_NO_PROGRESS=1 "$bin" train "$here/../examples/convection-paper.toml" \
    --out "$out/zoo" --device cuda --no-plot --set train.epochs=$epochs --set checkpoint.every=0 \
    "${keys[@]}" --set "run.graph=$graph" 2>&1 | grep "population finished\|fused\|compiled" | sed 's/\x1b\[[0-9;]*m//g'
  end=$(date +%s%N)
  echo "phasezoo mode=$mode graph=$graph wall_ms=$(( (end - start) / 1000000 )) (includes start-up, 11 evaluations, result files, 2 checkpoints per model)"
  # The known transition (index.csv columns: load_value = β, test_error = relative L2 error).
  awk -F, 'NR > 1 && $3 == 1 && (b1 == "" || $11 < b1) { b1 = $11 } NR > 1 && $3 >= 30 && (lo == "" || $11 < lo) { lo = $11 }
    END { printf "  min relative L2 error at beta = 1: %s; min at beta >= 30: %s\n", b1, lo }' "$out/zoo/index.csv"
  rm -rf "$out"
done
done
[ "${PYTORCH:-1}" = 0 ] && exit 0 # PYTORCH=0: phasezoo only (e.g. two phasezoo binaries compared)
"$py" "$here/pinn_pytorch.py" --mode fused --steps "$steps" --check
"$py" "$here/pinn_pytorch.py" --mode single --steps "$steps" --single-models 5
