"""PyTorch reference for phasezoo's evaluation along an image mode-connectivity curve (SPEC 3.3).

At each t, the point phi(t) = (1-t)^2 theta0 + 2t(1-t) theta1 + t^2 theta2 of a quadratic Bezier
curve is loaded into the modules of phasezoo_vision.py; then, as Garipov et al.'s
dnn-mode-connectivity evaluates a curve (`utils.update_bn`, `utils.test`):

1. BatchNorm running statistics are reset and recomputed by one pass over the training batches
   in train mode, each BatchNorm's momentum set to b / (n_seen + b) before a batch of b images;
2. in eval mode, the training and test batches are scored: mean NLL, error in percent, and the
   train loss regularised by 0.5 * wd * sum of squared parameters (BatchNorm's affine included).

    python python/phasezoo_curve_reference.py --arch resnet18 --width 2 --in-channels 1 \
        --classes 10 --ends t0.safetensors t1.safetensors t2.safetensors --data data.safetensors \
        --batch 128 --weight-decay 5e-4 --t 0 0.5 1

The ends are phasezoo state dicts (buffers are taken from the first and reset anyway); the data
file holds `train_x`, `train_y`, `test_x`, `test_y`, already transformed. Prints one JSON line:
a list, per t, of {"t", "running": {name: values}, "train_loss", "test_loss", "train_error",
"test_error"}.
"""
import argparse
import json

import torch
from torch import nn

from phasezoo_pinn import load_safetensors
from phasezoo_vision import build


def batches(x, y, size):
    for start in range(0, x.shape[0], size):
        yield x[start:start + size], y[start:start + size]


def update_bn(model, x, y, size):
    """Garipov's update_bn: reset, then momentum b / (n_seen + b) per batch in train mode."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    model.train()
    for m in norms:
        m.reset_running_stats()
    seen = 0
    with torch.no_grad():
        for xb, _ in batches(x, y, size):
            b = xb.shape[0]
            for m in norms:
                m.momentum = b / (seen + b)
            model(xb)
            seen += b


def score(model, x, y, size):
    """(mean NLL, error in percent) in eval mode."""
    model.eval()
    nll, wrong = 0.0, 0
    with torch.no_grad():
        for xb, yb in batches(x, y, size):
            out = model(xb)
            nll += nn.functional.cross_entropy(out, yb, reduction="sum").item()
            wrong += (out.argmax(1) != yb).sum().item()
    return nll / x.shape[0], 100.0 * wrong / x.shape[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", choices=["resnet18", "resnet50", "vit"], required=True)
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--in-channels", type=int, default=3)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--image-size", type=int, default=32, help="ViT only")
    p.add_argument("--patch-size", type=int, default=4, help="ViT only")
    p.add_argument("--depth", type=int, default=6, help="ViT only")
    p.add_argument("--head-dim", type=int, default=16, help="ViT only")
    p.add_argument("--mlp-ratio", type=int, default=4, help="ViT only")
    p.add_argument("--ends", nargs=3, required=True, help="theta0, theta1, theta2 (safetensors)")
    p.add_argument("--data", required=True, help="safetensors with train_x, train_y, test_x, test_y")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--t", type=float, nargs="+", required=True)
    args = p.parse_args()
    ends = [load_safetensors(e) for e in args.ends]
    data = load_safetensors(args.data)
    model = build(args)
    trainable = {name for name, _ in model.named_parameters()}
    out = []
    for t in args.t:
        c = [(1 - t) ** 2, 2 * t * (1 - t), t**2]
        state = {
            k: sum(ci * e[k] for ci, e in zip(c, ends)) if k in trainable else ends[0][k] for k in ends[0]
        }
        model.load_state_dict(state, strict=True)
        update_bn(model, data["train_x"], data["train_y"], args.batch)
        train_nll, train_error = score(model, data["train_x"], data["train_y"], args.batch)
        test_nll, test_error = score(model, data["test_x"], data["test_y"], args.batch)
        l2 = sum((q.double() ** 2).sum().item() for q in model.parameters())
        running = {k: v.tolist() for k, v in model.state_dict().items() if k.endswith(("running_mean", "running_var"))}
        out.append({
            "t": t,
            "running": running,
            "train_loss": train_nll + 0.5 * args.weight_decay * l2,
            "test_loss": test_nll,
            "train_error": train_error,
            "test_error": test_error,
        })
    print(json.dumps(out))


if __name__ == "__main__":
    main()
