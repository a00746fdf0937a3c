#!/usr/bin/env bash
# The paper-size PINN zoo (700 models) on one GPU: phasezoo (one population) against PyTorch
# (a) one model at a time and (b) a fused PyTorch population, in one invocation on one machine.
#
#   bench/pinn-gpu.sh PHASEZOO_BINARY [STEPS]
#
# STEPS optimizer steps per model (default 1000 = 10 epochs of 100). phasezoo runs with its steps
# as CUDA graphs (run.graph=true, the default) and without (GRAPHS="true false" by default).
# phasezoo's rate counts the
# training steps only (its log line "population finished" splits step time from evaluation and
# file writing, which it also reports); PyTorch's rates come from bench/pinn_pytorch.py.
set -euo pipefail
bin=${1:?usage: bench/pinn-gpu.sh PHASEZOO_BINARY [STEPS]}
steps=${2:-1000}
epochs=$((steps / 100))
py=${PYTHON:-python3}
here=$(cd "$(dirname "$0")" && pwd)
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
"$py" -c 'import torch; print("torch", torch.__version__)'
for graph in ${GRAPHS:-true false}; do
for mode in autograd forward; do
  out=$(mktemp -d)
  start=$(date +%s%N)
  RUST_LOG=pz_train=info,phasezoo=warn PHASEZOO_NO_PROGRESS=1 "$bin" train "$here/../examples/convection-paper.toml" \
    --out "$out/zoo" --device cuda --no-plot --set train.epochs=$epochs --set checkpoint.every=0 \
    --set "problem.derivatives=\"$mode\"" --set "run.graph=$graph" 2>&1 | grep "population finished" | sed 's/\x1b\[[0-9;]*m//g'
  end=$(date +%s%N)
  echo "phasezoo derivatives=$mode graph=$graph wall_ms=$(( (end - start) / 1000000 )) (includes start-up, 11 evaluations, result files, 2 checkpoints per model)"
  "$bin" phases "$out/zoo" | sed -n 2,3p
  rm -rf "$out"
done
done
"$py" "$here/pinn_pytorch.py" --mode fused --steps "$steps" --check
"$py" "$here/pinn_pytorch.py" --mode single --steps "$steps" --single-models 5
