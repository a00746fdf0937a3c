#!/usr/bin/env bash
# GPT-2 training speed on one GPU (issue 22): phasezoo against a nanoGPT-style PyTorch trainer
# (bench/gpt2_pytorch.py: torch.compile, SDPA, fused AdamW, bf16 autocast), alternating, in one
# call on one machine:
#   (1) one GPT-2 small (bench/lm-124m.toml, context 1024, bf16): tokens/s and MFU of both;
#   (2) a grid of 16 small GPT-2s (bench/lm-grid.toml): phasezoo packs them onto the GPU (8
#       workers), PyTorch trains them one at a time, each compiled afresh; both grids' wall times.
# Both systems read the same spec file, so they run the same models, recipe and token budget.
#
#   bench/lm-gpu.sh PHASEZOO_BINARY
#
# The binary must be a CUDA build. Environment:
#   LM_CORPUS  a built corpus folder (train.bin, val.bin, meta.json), default .devdata/shakespeare:
#              what `phasezoo data fetch shakespeare` writes to $PHASEZOO_DATA/shakespeare
#              (default ~/.cache/phasezoo/data/shakespeare). Nothing is tokenized here. The specs
#              name problem.corpus = "shakespeare", which phasezoo looks up as <data dir>/shakespeare:
#              this script points PHASEZOO_DATA at a scratch folder whose `shakespeare` links to
#              LM_CORPUS, so any folder name works.
#   PYTHON     python with torch (default /opt/torch/.venv/bin/python3, else python3).
#   PARTS      which parts, in order (default "124m grid"; "124m-unfused": phasezoo's 124M again
#              with PHASEZOO_FUSED_CE=0, PyTorch's cross-entropy instead of its fused kernels
#              (the default since 2026-12-07); "124m-shadows": with PHASEZOO_BF16_SHADOWS=1, bf16
#              copies of the matmul operands instead of autocast's casts).
#   COMPILE=0  PyTorch eager instead of torch.compile.
#   SPEC_124M, SPEC_GRID  other spec files for the parts; DEVICE (default cuda): for a smoke
#              test of this script on the CPU with tiny specs (phasezoo then records no rates).
#   OUT        logs, JSON lines and result.json files go to $OUT/lm-gpu (default .bench-out/lm-gpu);
#              the zoos themselves (checkpoints: ~3 GB for 124M, ~6 GB for the grid) go to a
#              scratch folder that is deleted at the end (KEEP_ZOOS=1 keeps it).
# Expected time on an H100: 124M ~1.5 min (PyTorch's compile ~1 min of it), phasezoo's grid
# well under a minute, PyTorch's grid ~16 compiles of ~15-25 s: about 6-9 minutes in all.
set -euo pipefail
bin=$(realpath "${1:?usage: bench/lm-gpu.sh PHASEZOO_BINARY}")
here=$(cd "$(dirname "$0")" && pwd)
corpus=$(realpath "${LM_CORPUS:-$here/../.devdata/shakespeare}")
if [ -z "${PYTHON:-}" ]; then
  PYTHON=python3
  [ -x /opt/torch/.venv/bin/python3 ] && PYTHON=/opt/torch/.venv/bin/python3
fi
out=$(mkdir -p "${OUT:-$here/../.bench-out}/lm-gpu" && realpath "${OUT:-$here/../.bench-out}/lm-gpu")
for f in train.bin val.bin meta.json; do
  if [ ! -f "$corpus/$f" ]; then
    echo "error: $corpus/$f is missing" >&2
    echo "hint: run \`phasezoo data fetch shakespeare\` (it writes \$PHASEZOO_DATA/shakespeare) and set LM_CORPUS to that folder" >&2
    exit 2
  fi
done
scratch=$(mktemp -d)
cleanup() { [ "${KEEP_ZOOS:-0}" = 1 ] || rm -rf "$scratch"; }
trap cleanup EXIT
mkdir -p "$scratch/data"
ln -s "$corpus" "$scratch/data/shakespeare"
export PHASEZOO_DATA="$scratch/data" PHASEZOO_NO_PROGRESS=1

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2> /dev/null | tee "$out/gpu.txt" || true
"$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
"$bin" --version
echo "corpus $corpus ($(stat -c %s "$corpus/train.bin") bytes of train.bin); logs in $out"
compile=()
[ "${COMPILE:-1}" = 0 ] && compile=(--no-compile)
device=${DEVICE:-cuda}

now() { date +%s.%N; }
# phasezoo on a spec: a fresh zoo, its wall time in <name>.wall, its log in <name>.log.
phasezoo_run() {
  local name=$1 spec=$2 t0
  rm -rf "${scratch:?}/$name"
  t0=$(now)
  "$bin" -v train "$spec" --out "$scratch/$name" --device "$device" --no-metrics --no-plot 2> "$out/$name.log"
  awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.2f\n", a - b }' > "$out/$name.wall"
  mkdir -p "$out/$name"
  for r in "$scratch/$name"/models/*/; do
    mkdir -p "$out/$name/$(basename "$r")"
    cp "$r"result.json "$r"params.json "$out/$name/$(basename "$r")/" 2> /dev/null || true
  done
  echo "phasezoo $name: $(cat "$out/$name.wall") s wall"
}
# The PyTorch script on the same spec: JSON lines in <name>.jsonl, its wall time in <name>.wall.
pytorch_run() {
  local name=$1 spec=$2 t0
  t0=$(now)
  "$PYTHON" "$here/gpt2_pytorch.py" --data "$corpus" --spec "$spec" --device "$device" "${compile[@]}" \
    > "$out/$name.jsonl" 2> "$out/$name.log"
  awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.2f\n", a - b }' > "$out/$name.wall"
  echo "pytorch $name: $(cat "$out/$name.wall") s wall"
}

for part in ${PARTS:-124m grid}; do
  case $part in
    124m)
      phasezoo_run phasezoo-124m "${SPEC_124M:-$here/lm-124m.toml}"
      pytorch_run pytorch-124m "${SPEC_124M:-$here/lm-124m.toml}"
      ;;
    124m-unfused)  # phasezoo alone with PyTorch's cross-entropy instead of its fused kernels
      PHASEZOO_FUSED_CE=0 phasezoo_run phasezoo-124m-unfused "${SPEC_124M:-$here/lm-124m.toml}"
      ;;
    124m-shadows)  # phasezoo alone with bf16 shadow weights (opt-in: +2 % measured)
      PHASEZOO_BF16_SHADOWS=1 phasezoo_run phasezoo-124m-shadows "${SPEC_124M:-$here/lm-124m.toml}"
      ;;
    grid)
      phasezoo_run phasezoo-grid "${SPEC_GRID:-$here/lm-grid.toml}"
      pytorch_run pytorch-grid "${SPEC_GRID:-$here/lm-grid.toml}"
      ;;
    *) echo "unknown part $part (124m, 124m-unfused, 124m-shadows, grid)" >&2; exit 2 ;;
  esac
done
"$PYTHON" "$here/lm_gpu_summary.py" "$out" | tee "$out/summary.txt"
