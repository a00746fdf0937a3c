"""A PTMZ experiment made by real PyTorch, laid out as the original's Ray Tune run (SPEC §2), for
`phasezoo import` / `export` tests. Run with $PZ_PYTHON (torch, safetensors):

    ptmz_experiment.py make OUT EXPECTED   2 widths x 2 batch sizes x 2 seeds of ResNet-18 on
                                           Fashion-MNIST shapes (python/phasezoo_vision.py), epochs
                                           0..2; EXPECTED/<trial>/<epoch>.safetensors holds each
                                           checkpoint's tensors (names without `module.`)
    ptmz_experiment.py check EXPORTED ZOO  torch.load(weights_only=True) every exported checkpoint
                                           equals the zoo's model.safetensors bit for bit

Trial index = 4*b + 2*s + w (width fastest, then seed, then batch size). Seed-1 trials save
with nn.DataParallel's `module.` prefix; trial 3 uses the legacy (non-zip) format.
"""
import collections
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "python"))
from phasezoo_vision import resnet18  # noqa: E402

WIDTHS, BATCH_SIZES, SEEDS, EPOCHS = [2, 4], [32, 128], [0, 1], 2
RAY = dict(date="2024-05-22_11-31-00", timestamp=1716370260, time_this_iter_s=1.5, pid=42,
           hostname="gpu1", node_ip="10.0.0.1")


def make(out, expected):
    for b, bs in enumerate(BATCH_SIZES):
        for s, seed in enumerate(SEEDS):
            for w, width in enumerate(WIDTHS):
                trial(out, expected, 4 * b + 2 * s + w, width, seed, bs)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"model::width": "{'grid_search': [2, 4]}"}, f)


def trial(out, expected, index, width, seed, bs):
    name = (f"NN_tune_trainable_bf0b6_{index:05d}_{index}_model_width={width},optim_lr=0.1000,"
            f"optim_wd=0.0005,seed={seed},training_batchsize={bs}_2024-05-22_11-30-52")
    d = os.path.join(out, name)
    os.makedirs(d)
    params = {
        "model::type": "Resnet18_width", "model::width": width, "model::channels_in": 1, "model::o_dim": 10,
        "model::nlin": "relu", "model::dropout": 0.0, "model::init_type": "kaiming_uniform",
        "model::use_bias": False, "optim::optimizer": "sgd", "optim::lr": 0.1, "optim::wd": 5e-4,
        "optim::momentum": 0.9, "optim::scheduler": "OneCycleLR", "training::loss": "crossentropy",
        "training::dataloader": "normal", "trainloader::workers": 6, "testloader::workers": 4,
        "training::batchsize": bs, "training::epochs_train": EPOCHS, "training::output_epoch": 1,
        "training::data_path": "/ds2/fashion-mnist", "dataset": "fashion-mnist",
        "dataset::dump": "/ds2/fashion-mnist/dataset_preprocessed.pt", "seed": seed, "cuda": True,
        "resources": {"cpu": 12 + 4 * (index % 2), "gpu": 1},
    }
    with open(os.path.join(d, "params.json"), "w") as f:
        json.dump(params, f)
    torch.manual_seed(1000 * index)
    model = resnet18(width, 1, 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    steps = -(-60000 // bs)
    lines = []
    for epoch in range(EPOCHS + 1):
        if epoch > 0:  # a stand-in for an epoch of training: moved weights and statistics
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(0.01 * torch.randn_like(p))
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.add_(0.1 * torch.randn_like(m.running_mean))
                    m.running_var.mul_(1.0 + 0.1 * torch.rand_like(m.running_var))
                    m.num_batches_tracked.add_(steps)
        sd = model.state_dict()
        ck = os.path.join(d, f"checkpoint_{epoch:06d}")
        os.makedirs(ck)
        saved = collections.OrderedDict(("module." + k if seed == 1 else k, v) for k, v in sd.items())
        torch.save(saved, os.path.join(ck, "checkpoints"), _use_new_zipfile_serialization=index != 3)
        torch.save(opt.state_dict(), os.path.join(ck, "optimizer"))
        os.makedirs(os.path.join(expected, name), exist_ok=True)
        save_file({k: v.contiguous() for k, v in sd.items()}, os.path.join(expected, name, f"{epoch}.safetensors"))
        loss = 2.3 / (epoch + 1) + 0.01 * index
        line = dict(train_loss=loss, train_acc=0.1 + 0.3 * epoch, test_loss=loss + 0.1, test_acc=0.1 + 0.25 * epoch,
                    done=epoch == EPOCHS, training_iteration=epoch, trial_id=f"bf0b6_{index:05d}",
                    time_total_s=1.5 * epoch, time_since_restore=1.5 * epoch, iterations_since_restore=epoch,
                    config=dict(params, **{"scheduler::steps_per_epoch": steps}), **RAY)
        if epoch == EPOCHS:  # the analysis epoch's published landscape metrics (cell values)
            line.update(curve_mc_train_error=-10.0 if width == 2 else 10.0, curve_mc_test_error=-8.0,
                        representation_similarity=[0.80, 0.90] if bs == 32 else [0.70, 0.75])
        lines.append(json.dumps(line))
    with open(os.path.join(d, "result.json"), "w") as f:
        f.write("\n".join(lines) + "\n")


def check(exported, zoo):
    n = 0
    for name in sorted(os.listdir(exported)):
        d = os.path.join(exported, name)
        if not os.path.isdir(d):
            continue
        with open(os.path.join(d, "params.json")) as f:
            model_id = json.load(f)["phasezoo::model_id"]
        for ck in sorted(c for c in os.listdir(d) if c.startswith("checkpoint_")):
            got = torch.load(os.path.join(d, ck, "checkpoints"), weights_only=True)
            want = load_file(os.path.join(zoo, "models", model_id, ck, "model.safetensors"))
            assert isinstance(got, collections.OrderedDict), type(got)
            assert sorted(got) == sorted(want), (name, ck)
            for k, v in want.items():
                g = got[k]
                assert g.dtype == v.dtype and g.shape == v.shape, (name, ck, k)
                as_bytes = lambda t: t.contiguous().reshape(-1).view(torch.uint8)  # noqa: E731
                assert as_bytes(g).equal(as_bytes(v)), (name, ck, k)
            n += 1
    print("checked", n, "checkpoints")


if __name__ == "__main__":
    {"make": make, "check": check}[sys.argv[1]](*sys.argv[2:])
