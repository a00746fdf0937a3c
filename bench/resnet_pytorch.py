"""PyTorch eager baseline for `phasezoo bench resnet`: the same ResNet-18 (python/phasezoo_vision.py),
recipe and measurement, one cell at a time as the original trained its zoos.

Per (width, batch) cell: random Fashion-MNIST-shaped uint8 images on the GPU; each step gathers a
shuffled batch, augments it on the GPU (random crop with padding 4, horizontal flip, rotation
±20° with nearest interpolation and zero fill), normalizes, runs forward (optionally under
bf16 autocast), NLL on log_softmax, backward, SGD (momentum 0.9, weight decay 5e-4) and a
OneCycleLR step; the epoch's loss and accuracy are accumulated on the GPU (no per-step sync,
kinder to PyTorch than the original's loss.item()). One warm-up epoch of STEPS batches, then a
timed one. Prints one JSON line per cell and one for the whole grid (all images / wall time).

    python bench/resnet_pytorch.py --widths 4,16,64 --batches 32,128,512 --steps 30 [--bf16] [--channels-last]
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
from phasezoo_vision import resnet18  # noqa: E402

MEAN, STD = 0.2860, 0.3530


def augment(x, pad=4, degrees=20.0):
    n, c, h, w = x.shape
    dev = x.device
    padded = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,), device=dev)
    ox = torch.randint(0, 2 * pad + 1, (n,), device=dev)
    rows = (oy[:, None] + torch.arange(h, device=dev)[None, :])[:, None, :, None].expand(n, c, h, w)
    cols = (ox[:, None] + torch.arange(w, device=dev)[None, :])[:, None, None, :].expand(n, c, h, w)
    crop = padded[torch.arange(n, device=dev)[:, None, None, None],
                  torch.arange(c, device=dev)[None, :, None, None], rows, cols]
    flip = torch.rand(n, device=dev) < 0.5
    angle = (torch.rand(n, device=dev) * 2 - 1) * math.radians(degrees)
    cos, sin = torch.cos(angle), torch.sin(angle)
    sx = torch.where(flip, -1.0, 1.0)
    theta = torch.stack([torch.stack([cos * sx, -sin, torch.zeros_like(cos)], 1),
                         torch.stack([sin * sx, cos, torch.zeros_like(cos)], 1)], 1)
    grid = F.affine_grid(theta, (n, c, h, w), align_corners=False)
    out = F.grid_sample(crop.float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return (out / 255.0 - MEAN) / STD


def cell(width, batch, steps, bf16, channels_last):
    dev = torch.device("cuda")
    n = batch * steps
    g = torch.Generator(device=dev).manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, device=dev, generator=g)
    labels = torch.randint(0, 10, (n,), device=dev, generator=g)
    model = resnet18(width, 1, 10).to(dev)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=2 * steps)
    model.train()

    def epoch():
        loss_sum = torch.zeros((), device=dev, dtype=torch.float64)
        correct = torch.zeros((), device=dev, dtype=torch.int64)
        perm = torch.randperm(n, device=dev)
        for start in range(0, n, batch):
            idx = perm[start:start + batch]
            x = augment(images[idx])
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = labels[idx]
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
                logits = model(x)
            loss = F.nll_loss(F.log_softmax(logits.float(), -1), y)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.detach().argmax(-1) == y).sum()
        return loss_sum.item(), correct.item()  # synchronizes

    epoch()
    t0 = time.perf_counter()
    epoch()
    secs = time.perf_counter() - t0
    return n / secs, 2 * n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--widths", default="4,16,64")
    p.add_argument("--batches", default="32,128,512")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--channels-last", action="store_true")
    a = p.parse_args()
    precision = "bf16_autocast" if a.bf16 else "float32"
    total, t0 = 0, time.perf_counter()
    widths = [int(v) for v in a.widths.split(",")]
    batches = [int(v) for v in a.batches.split(",")]
    for b in batches:
        for w in widths:
            rate, images = cell(w, b, a.steps, a.bf16, a.channels_last)
            total += images
            print(json.dumps({"system": "pytorch", "width": w, "batch_size": b, "precision": precision,
                              "channels_last": a.channels_last, "images_per_sec": rate}), flush=True)
    wall = time.perf_counter() - t0
    print(json.dumps({"system": "pytorch", "grid": True, "precision": precision, "channels_last": a.channels_last,
                      "cells": len(widths) * len(batches), "images": total, "wall_s": wall,
                      "images_per_sec": total / wall, "device": torch.cuda.get_device_name(),
                      "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
