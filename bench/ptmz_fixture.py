"""A PTMZ ResNet-18 experiment of paper-size checkpoints, for timing `phasezoo import` against
PyTorch (bench/ptmz-import.sh, issue 19). Run with the repo venv's python ($PZ_PYTHON):

    ptmz_fixture.py make OUT N      N trials in the original's Ray Tune layout (trial-folder names,
                                    params.json, result.json with Ray's keys, one final
                                    checkpoint_000060/checkpoints = torch.save(model.state_dict()))
    ptmz_fixture.py bytes SRC       prints the trials' total state bytes (sum of tensor bytes)
    ptmz_fixture.py convert SRC OUT the Python baseline: per checkpoint torch.load(weights_only=True)
                                    + safetensors.torch.save_file into OUT; prints bytes and seconds

Every model is the original's Resnet18_width at width 64 on CIFAR-10 shapes (the standard
11.2M-parameter CIFAR ResNet-18, BatchNorm buffers included, 44.7 MB per checkpoint). The grid
is 1 width x min(N, 8) batch sizes x ceil(N / 8) seeds (N = 192: 8 x 24), in Ray's trial order
(width fastest, then seed, then batch size). The width cannot vary while the bytes stay those of
width 64: the importer checks each `model::width` (and the folder tag) against the tensors'
shapes. One random model per seed, scaled per batch size, keeps making 8.6 GB fast.
"""
import collections
import json
import math
import os
import sys
import time

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from phasezoo_vision import resnet18  # noqa: E402

WIDTH, EPOCHS, TRAIN_IMAGES = 64, 60, 50000
BATCH_SIZES = [16, 32, 64, 128, 256, 512, 1024, 2048]
RAY = dict(date="2024-05-22_11-31-00", timestamp=1716370260, time_this_iter_s=30.0, pid=42,
           hostname="gpu1", node_ip="10.0.0.1")


def grid(n):
    """(index, seed, batch size) of the first n trials in Ray's order."""
    n_bs = min(n, len(BATCH_SIZES))
    n_seeds = math.ceil(n / n_bs)
    return [(i, i % n_seeds, BATCH_SIZES[i // n_seeds]) for i in range(n)]


def make(out, n):
    os.makedirs(out, exist_ok=True)
    trials = grid(int(n))
    seeds = sorted({s for _, s, _ in trials})
    for seed in seeds:
        torch.manual_seed(seed)
        base = resnet18(WIDTH, 3, 10).state_dict()
        for m, v in base.items():  # BatchNorm statistics as after training, not the init's 0/1
            if m.endswith("running_mean"):
                v.normal_(0.0, 0.1)
            elif m.endswith("running_var"):
                v.uniform_(0.5, 1.5)
        for index, s, bs in trials:
            if s == seed:
                trial(out, index, seed, bs, base)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"training::batchsize": "{'grid_search': %s}" % BATCH_SIZES[: len(trials)]}, f)


def trial(out, index, seed, bs, base):
    name = (f"NN_tune_trainable_bf0b6_{index:05d}_{index}_model_width={WIDTH},optim_lr=0.1000,"
            f"optim_wd=0.0005,seed={seed},training_batchsize={bs}_2024-05-22_11-30-52")
    d = os.path.join(out, name)
    ck = os.path.join(d, f"checkpoint_{EPOCHS:06d}")
    if os.path.isfile(os.path.join(ck, "checkpoints")):
        return
    os.makedirs(ck, exist_ok=True)
    params = {
        "model::type": "Resnet18_width", "model::width": WIDTH, "model::channels_in": 3, "model::o_dim": 10,
        "model::nlin": "relu", "model::dropout": 0.0, "model::init_type": "kaiming_uniform",
        "model::use_bias": False, "optim::optimizer": "sgd", "optim::lr": 0.1, "optim::wd": 5e-4,
        "optim::momentum": 0.9, "optim::scheduler": "OneCycleLR", "training::loss": "crossentropy",
        "training::dataloader": "normal", "trainloader::workers": 6, "testloader::workers": 4,
        "training::batchsize": bs, "training::epochs_train": EPOCHS, "training::output_epoch": EPOCHS,
        "training::data_path": "/ds2/cifar10", "dataset": "cifar10",
        "dataset::dump": "/ds2/cifar10/dataset_preprocessed.pt", "seed": seed, "cuda": True,
        "resources": {"cpu": 12, "gpu": 1},
    }
    with open(os.path.join(d, "params.json"), "w") as f:
        json.dump(params, f)
    steps = -(-TRAIN_IMAGES // bs)
    scale = 1.0 + 1e-3 * BATCH_SIZES.index(bs)  # distinct bytes per trial at the cost of one pass
    sd = collections.OrderedDict()
    for k, v in base.items():
        sd[k] = torch.tensor(steps * EPOCHS) if k.endswith("num_batches_tracked") else v * scale
    # What the original's trainable does in save_checkpoint: torch.save(model.state_dict(), path).
    torch.save(sd, os.path.join(ck, "checkpoints"))
    lines = []
    for epoch in range(EPOCHS + 1):
        loss = 2.3 / (epoch + 1) + 0.001 * index
        lines.append(json.dumps(dict(
            train_loss=loss, train_acc=min(0.99, 0.1 + 0.015 * epoch), test_loss=loss + 0.1,
            test_acc=min(0.95, 0.1 + 0.014 * epoch), done=epoch == EPOCHS, training_iteration=epoch,
            trial_id=f"bf0b6_{index:05d}", time_total_s=30.0 * epoch, time_since_restore=30.0 * epoch,
            iterations_since_restore=epoch, config=dict(params, **{"scheduler::steps_per_epoch": steps}),
            **RAY)))
    with open(os.path.join(d, "result.json"), "w") as f:
        f.write("\n".join(lines) + "\n")


def checkpoints(src):
    return sorted(os.path.join(src, t, c, "checkpoints")
                  for t in os.listdir(src) if os.path.isdir(os.path.join(src, t))
                  for c in os.listdir(os.path.join(src, t)) if c.startswith("checkpoint_"))


def state_bytes(sd):
    return sum(t.numel() * t.element_size() for t in sd.values())


def count_bytes(src):
    files = checkpoints(src)
    # All checkpoints share one architecture: one load gives every file's tensor bytes.
    per = state_bytes(torch.load(files[0], map_location="cpu", weights_only=True))
    print(per * len(files), len(files))


def convert(src, out):
    files = checkpoints(src)
    os.makedirs(out, exist_ok=True)
    start, total = time.perf_counter(), 0
    for i, path in enumerate(files):
        sd = torch.load(path, map_location="cpu", weights_only=True)
        total += state_bytes(sd)
        save_file({k: v.contiguous() for k, v in sd.items()}, os.path.join(out, f"{i:05d}.safetensors"))
    print(f"python_loop_s={time.perf_counter() - start:.3f} bytes={total} files={len(files)}")


if __name__ == "__main__":
    {"make": make, "bytes": count_bytes, "convert": convert}[sys.argv[1]](*sys.argv[2:])
