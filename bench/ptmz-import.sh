#!/usr/bin/env bash
# Issue 19's speed point: `phasezoo import` of a PTMZ ResNet-18 experiment against PyTorch
# (torch.load + safetensors.torch.save_file) on the same checkpoint files, with the disk's read
# and write rates for context.
#
#   bench/ptmz-import.sh PHASEZOO_BIN N [WORKDIR]
#
# Makes N trials with bench/ptmz_fixture.py (44.7 MB each; kept between runs, reused when
# complete), then alternates twice: (a) phasezoo import into a fresh zoo, (b) the Python loop
# into a fresh folder; each output is deleted after its timing. Needs about 2 x N x 45 MB free
# in WORKDIR (default ${TMPDIR:-/tmp}/ptmz-bench). Python: $PZ_PYTHON, else the repo's .venv.
# The checkpoints stay in the page cache when memory allows: the import rates are then cached
# reads plus real writes (phasezoo fsyncs each checkpoint, the Python loop does not).
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 PHASEZOO_BIN N [WORKDIR]" >&2
  exit 2
fi
bin=$(realpath "$1")
n=$2
work=${3:-${TMPDIR:-/tmp}/ptmz-bench}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=${PZ_PYTHON:-$repo/.venv/bin/python}
fixture=$repo/bench/ptmz_fixture.py
src=$work/tune_zoo_cifar10_resnet18_n$n
[ -x "$bin" ] || { echo "error: $bin is not an executable phasezoo binary" >&2; exit 2; }
[ -x "$py" ] || { echo "error: no python at $py; set PZ_PYTHON (a python with torch and safetensors)" >&2; exit 2; }
mkdir -p "$work"

now() { date +%s.%N; }
rate() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / 1e6 / s }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
load() { echo "loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)"; }

echo "== machine"
echo "nproc: $(nproc); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "memory: $(free -g | awk '/^Mem:/ { print $2 " GiB total, " $7 " GiB available" }')"
echo "filesystem of $work: $(df -h "$work" | awk 'NR == 2 { print $1 ", " $4 " free" }')"
echo "python: $("$py" -c 'import torch, safetensors; print("torch", torch.__version__, "safetensors", safetensors.__version__)')"

# A marker written after a complete make: an interrupted one may leave a half-written file.
if [ ! -f "$work/made-$n" ]; then
  rm -rf "$src"
  echo "== making $n trials in $src"
  t0=$(now)
  "$py" "$fixture" make "$src" "$n"
  echo "made in $(secs "$t0" "$(now)") s"
  touch "$work/made-$n"
fi
mapfile -t files < <(find "$src" -path '*/checkpoint_*/checkpoints' -type f | sort)
read -r bytes count < <("$py" "$fixture" bytes "$src")
file_bytes=$(cat "${files[@]}" | wc -c)
echo "checkpoints: $count files, state bytes (sum of tensor bytes) $bytes, file bytes $file_bytes"

declare -A results
disk() { # $1 = run number: cached read, uncached read (O_DIRECT), write with and without fdatasync
  local r=$1 t0 s blocks
  sync; load
  t0=$(now); cat "${files[@]}" >/dev/null; s=$(secs "$t0" "$(now)")
  results[cat$r]=$(rate "$file_bytes" "$s"); echo "cat (page cache): $s s, ${results[cat$r]} MB/s"
  t0=$(now)
  for f in "${files[@]}"; do dd if="$f" of=/dev/null bs=4M iflag=direct status=none; done
  s=$(secs "$t0" "$(now)"); results[direct$r]=$(rate "$file_bytes" "$s")
  echo "dd read, O_DIRECT (disk): $s s, ${results[direct$r]} MB/s"
  blocks=$(( (file_bytes + 4194303) / 4194304 ))
  for mode in sync cache; do
    sync; t0=$(now)
    if [ $mode = sync ]; then
      dd if=/dev/zero of="$work/dd.tmp" bs=4M count="$blocks" conv=fdatasync status=none
    else
      dd if=/dev/zero of="$work/dd.tmp" bs=4M count="$blocks" status=none
    fi
    s=$(secs "$t0" "$(now)"); results[dd$mode$r]=$(rate $((blocks * 4194304)) "$s")
    echo "dd write $((blocks * 4))M ($mode): $s s, ${results[dd$mode$r]} MB/s"
    rm -f "$work/dd.tmp"
  done
}

phasezoo_run() { # $1 = run number
  local out=$work/zoo t0 s
  rm -rf "$out"; sync; load
  t0=$(now)
  PHASEZOO_NO_PROGRESS=1 "$bin" import "$src" --out "$out"
  s=$(secs "$t0" "$(now)")
  results[pz$1]=$s
  echo "phasezoo import: $s s, $(rate "$bytes" "$s") MB/s of state"
  rm -rf "$out"
}

python_run() { # $1 = run number
  local out=$work/py t0 s line
  rm -rf "$out"; sync; load
  t0=$(now)
  line=$("$py" "$fixture" convert "$src" "$out")
  s=$(secs "$t0" "$(now)")
  results[py$1]=$s
  results[pyloop$1]=$(sed 's/.*python_loop_s=\([0-9.]*\).*/\1/' <<<"$line")
  echo "python torch.load + save_file: $s s process ($(rate "$bytes" "$s") MB/s), $line"
  rm -rf "$out"
}

for r in 1 2; do
  echo "== run $r"
  phasezoo_run $r
  python_run $r
done
for r in 1 2; do
  echo "== disk $r"
  disk $r
done

echo "== summary (MB = 1e6 bytes; state bytes $bytes in $count checkpoints)"
for r in 1 2; do
  pz=$(rate "$bytes" "${results[pz$r]}"); pyr=$(rate "$bytes" "${results[py$r]}")
  echo "run $r: phasezoo ${results[pz$r]} s = $pz MB/s | python ${results[py$r]} s = $pyr MB/s" \
    "(loop alone ${results[pyloop$r]} s = $(rate "$bytes" "${results[pyloop$r]}") MB/s)" \
    "| phasezoo/python $(awk -v a="$pz" -v b="$pyr" 'BEGIN { printf "%.2f", a / b }')"
  echo "disk $r: cat ${results[cat$r]} MB/s, O_DIRECT read ${results[direct$r]} MB/s," \
    "dd write fdatasync ${results[ddsync$r]} MB/s, dd write page cache ${results[ddcache$r]} MB/s"
done
