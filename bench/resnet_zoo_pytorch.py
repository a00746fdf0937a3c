"""PyTorch baselines for phasezoo's ResNet-18 zoo grid, the protocol of the Rust side.

    python bench/resnet_zoo_pytorch.py --mode eager|packed [--widths 2,4,...,256] [--batches 8,...,1024]
        [--images 4096] [--epochs 2] [--jobs 8] [--bf16] [--deterministic] [--device cuda]
        [--data gpu|loader] [--workers 6] [--process-per-cell]
    python bench/resnet_zoo_pytorch.py --check     # CPU self-check of the schedule and the SGD step

Grid: one cell per (width, batch) of resnet18(width, 1, 10) (python/phasezoo_vision.py), one seed,
every cell trained on the same images. Per cell: N random uint8 1x28x28 images and labels 0..9
made on the device by a seeded generator (throughput does not depend on pixel values); E epochs,
each a torch.randperm of N cut into batches of B in order, the last partial batch trained too.
Per batch: gather, augment on the device as bench/resnet_pytorch.py (crop pad 4, flip, rotation
±20° nearest, normalize; `--data loader`: below), forward in train mode (optionally under bf16
autocast), NLL on log_softmax of float logits, backward, SGD (momentum, weight decay 5e-4,
dampening 0) with OneCycleLR (max_lr 0.1, total E*ceil(N/B) steps, PyTorch defaults: lr AND
momentum change each step). The epoch's loss sum (float64) and correct count stay on the device,
read once per epoch. Cell time: model (and loader) construction to the end of its last epoch.
Grid rate: N*E*cells / wall time of the whole grid. One JSON line per cell, one for the grid.
Eager cells also report their last epoch's rate (`last_epoch_images_per_sec`): the steady state,
after every first-step cost (cuDNN plans, allocations; phasezoo's graph capture) is paid, as it is
for all but the first of a real zoo's 150 epochs.

Modes: `eager` is the original zoo's way, one cell at a time with torch.optim.SGD + OneCycleLR.
`--deterministic` adds the original's cuDNN settings (`cudnn.deterministic = True`, `benchmark =
False`, ../shared/SPEC.md "Determinism"); without it cuDNN may pick its faster nondeterministic
algorithms, which is kinder to PyTorch than the original was.
`packed` is the Rust runner's way (../shared/PERF-NOTES.md): --jobs threads, each with its own
CUDA stream, take cells in phasezoo's queue order (below); per cell the first full batch runs eagerly (warm-up), the
whole step (forward, backward, SGD, accumulators) is captured once as a CUDA graph and replayed
for every later full batch; the partial last batch runs eagerly with the same update.

Data paths (`--data`, the images and labels are make_data's in both, made before the cell's clock):
`gpu` (default) keeps them on the device and augments whole batches there (above). `loader`
(eager only) is the original's: the images are copied to the CPU once and read as torchvision's
FashionMNIST reads them (a PIL "L" image per sample, then RandomCrop(28, padding=4),
RandomHorizontalFlip, RandomRotation(20), ToTensor, Normalize), through DataLoader(batch, shuffle,
--workers worker processes, default 6, as the original's trainloader), each batch then moved to
the device in the training loop. The loader is built in the cell's timed setup, and with the
default persistent_workers=False and pin_memory=False, as the original ran, every epoch's iter()
starts its workers anew. So (a) "as the original ran" is `--mode eager --deterministic --data
loader --process-per-cell` (processes: below). The loader is also the faster data path here
(H200, 2026-12-03, one process: 168 s against 242 s for the grid): with `gpu`, every eager step also launches the augmentation's ~20 small kernels, which
the loader's workers do on the CPU meanwhile; only the big-batch cells of narrow models, where
the loader's per-epoch start-up dominates, favour `gpu`. `--data gpu` stays for comparison with
the figures measured with it before.
Processes (`--process-per-cell`, eager only): the original ran every trial in a new Ray actor
process (`reuse_actors=False`, ../shared/SPEC.md §6.1), which imported torch, made its CUDA context
and loaded its data before training; with this flag each cell runs in a new Python process and its
`seconds` span that process's whole life (still kinder than Ray: no actor scheduling, no result
or checkpoint files). The default, one process for the whole grid, spares PyTorch those costs.
Reduced protocol: an epoch here is 4096 images, not a real zoo's 50k, so each epoch's worker
start-up weighs far more than over 150 such epochs; even `last_epoch_images_per_sec` includes one.
"""
import argparse
import contextlib
import copy
import itertools
import json
import math
import os
import queue
import subprocess
import sys
import threading
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
from phasezoo_vision import resnet18  # noqa: E402

MEAN, STD = 0.2860, 0.3530
MAX_LR, MOMENTUM, WEIGHT_DECAY = 0.1, 0.9, 5e-4


def augment(x, gen, pad=4, degrees=20.0):
    """bench/resnet_pytorch.py's augment(), drawing from the cell's own generator: a thread's eager
    draws from the default CUDA generator fail while another thread captures a graph."""
    n, c, h, w = x.shape
    dev = x.device
    padded = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,), device=dev, generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (n,), device=dev, generator=gen)
    rows = (oy[:, None] + torch.arange(h, device=dev)[None, :])[:, None, :, None].expand(n, c, h, w)
    cols = (ox[:, None] + torch.arange(w, device=dev)[None, :])[:, None, None, :].expand(n, c, h, w)
    crop = padded[torch.arange(n, device=dev)[:, None, None, None],
                  torch.arange(c, device=dev)[None, :, None, None], rows, cols]
    flip = torch.rand(n, device=dev, generator=gen) < 0.5
    angle = (torch.rand(n, device=dev, generator=gen) * 2 - 1) * math.radians(degrees)
    cos, sin = torch.cos(angle), torch.sin(angle)
    sx = torch.where(flip, -1.0, 1.0)
    theta = torch.stack([torch.stack([cos * sx, -sin, torch.zeros_like(cos)], 1),
                         torch.stack([sin * sx, cos, torch.zeros_like(cos)], 1)], 1)
    grid = F.affine_grid(theta, (n, c, h, w), align_corners=False)
    out = F.grid_sample(crop.float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return (out / 255.0 - MEAN) / STD


def one_cycle(step, total, max_lr=MAX_LR, pct_start=0.3, div_factor=25.0, final_div_factor=1e4,
              base_momentum=0.85, max_momentum=0.95):
    """(lr, momentum) for 0-based optimizer step `step`: OneCycleLR.get_lr term by term (two
    phases, cosine anneal), so the values are PyTorch's to the bit."""
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    peak = float(pct_start * total) - 1
    if step <= peak:
        start, end, lrs, moms = 0.0, peak, (initial_lr, max_lr), (max_momentum, base_momentum)
    else:
        start, end, lrs, moms = peak, total - 1, (max_lr, min_lr), (base_momentum, max_momentum)
    pct = (step - start) / (end - start)

    def cos_anneal(a, b):
        return b + (a - b) / 2.0 * (math.cos(math.pi * pct) + 1)
    return cos_anneal(*lrs), cos_anneal(*moms)


def sgd_foreach(params, grads, bufs, lr_t, mom_t, wd=WEIGHT_DECAY):
    """torch.optim.SGD's momentum step (dampening 0, no Nesterov) reading lr and momentum from
    0-dim device tensors, so a replayed graph sees each step's values (a number would be frozen at
    capture). Zero-initialised bufs give buf = d on the first step, as SGD's clone does."""
    d = torch._foreach_add(grads, params, alpha=wd)
    torch._foreach_mul_(bufs, mom_t)
    torch._foreach_add_(bufs, d)
    torch._foreach_sub_(params, torch._foreach_mul(bufs, lr_t))


def forward_loss(model, x, y, bf16):
    # cache_enabled=False: autocast's weight-cast cache must not outlive a captured region.
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16, cache_enabled=False):
        logits = model(x)
    return logits, F.nll_loss(F.log_softmax(logits.float(), -1), y)


def make_step(model, bufs, lr_t, mom_t, loss_sum, correct, bf16):
    """One training step with no host sync in it, so that it can be captured as a CUDA graph."""
    params = list(model.parameters())

    def step(x, y):
        logits, loss = forward_loss(model, x, y, bf16)
        grads = torch.autograd.grad(loss, params)  # fresh tensors: static in a graph, no .grad
        with torch.no_grad():
            sgd_foreach(params, grads, bufs, lr_t, mom_t)
            loss_sum.add_(loss * y.shape[0])
            correct.add_((logits.argmax(-1) == y).sum())
    return step


def make_data(n, dev, seed=0):
    gen = torch.Generator(device=dev).manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, device=dev, generator=gen)
    labels = torch.randint(0, 10, (n,), device=dev, generator=gen)
    return images, labels, gen


def batches(images, labels, gen, batch):
    """One epoch's augmented batches: a fresh permutation, in order, the partial last one too."""
    n = images.shape[0]
    perm = torch.randperm(n, device=images.device, generator=gen)
    for start in range(0, n, batch):
        idx = perm[start:start + batch]
        yield augment(images[idx], gen), labels[idx]


class LoaderData(torch.utils.data.Dataset):
    """torchvision's FashionMNIST with the original's training transforms: uint8 CPU images
    (N, 28, 28) and int64 labels, one PIL image per sample. Module level: workers unpickle it
    where they are spawned."""

    def __init__(self, images, labels):
        from torchvision import transforms
        self.data, self.targets = images, labels
        self.transform = transforms.Compose([
            transforms.RandomCrop(28, padding=4), transforms.RandomHorizontalFlip(),
            transforms.RandomRotation(20), transforms.ToTensor(),
            transforms.Normalize((MEAN,), (STD,))])

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        from PIL import Image
        # A 2-D uint8 array is mode "L", FashionMNIST's mode="L" (a keyword Pillow 11.3 deprecated).
        return self.transform(Image.fromarray(self.data[i].numpy())), int(self.targets[i])


def loader_batches(loader, dev):
    """One epoch of the original's data path: iter() starts the workers, each batch goes to the
    device in the training loop."""
    for x, y in loader:
        yield x.to(dev), y.to(dev)


def cell_eager(width, batch, a, dev):
    """The reference recipe: torch.optim.SGD + OneCycleLR, every step eager, on either data path.
    Returns the cell's seconds and its last epoch's."""
    images, labels, gen = make_data(a.images, dev)
    if a.data == "loader":
        data = LoaderData(images[:, 0].cpu(), labels.cpu())
    t0 = time.perf_counter()
    if a.data == "loader":
        loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True,
                                             num_workers=a.workers, drop_last=False)
    model = resnet18(width, 1, 10).to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=MAX_LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=MAX_LR,
                                                total_steps=a.epochs * math.ceil(a.images / batch))
    for _ in range(a.epochs):
        last_epoch_start = time.perf_counter()  # the previous epoch ended with a host sync
        loss_sum = torch.zeros((), device=dev, dtype=torch.float64)
        correct = torch.zeros((), device=dev, dtype=torch.int64)
        epoch = (loader_batches(loader, dev) if a.data == "loader"
                 else batches(images, labels, gen, batch))
        for x, y in epoch:
            opt.zero_grad(set_to_none=True)
            logits, loss = forward_loss(model, x, y, a.bf16)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.detach() * y.shape[0]
            correct += (logits.detach().argmax(-1) == y).sum()
        loss_sum.item(), correct.item()  # the epoch's only host sync
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    end = time.perf_counter()
    return end - t0, end - last_epoch_start


class GpuLock:
    """Shared by GPU work, exclusive for a capture: other threads' work during a capture
    invalidates it now and then (cudaErrorStreamCaptureInvalidated, measured on the H100 even in
    thread_local mode), so a capture waits for the work under way and holds new work back. The
    same rule as phasezoo's (pz_device::outside_captures)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextlib.contextmanager
    def shared(self):
        with self._cond:
            self._cond.wait_for(lambda: not self._writer)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self):
        with self._cond:
            self._cond.wait_for(lambda: not self._writer)
            self._writer = True  # new shared work waits from here on
            self._cond.wait_for(lambda: self._readers == 0)
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


def capture(step, x, y, lock):
    """Capture step(x, y) on the current (the worker's) stream, alone (GpuLock.exclusive)."""
    graph = torch.cuda.CUDAGraph()
    with lock.exclusive():
        # As torch.cuda.graph does: the warm-up's cached blocks belong to this stream's pool, which
        # the graph's private pool cannot reuse (a 256x1024 cell otherwise reserves ~3x its peak).
        torch.cuda.empty_cache()
        graph.capture_begin(capture_error_mode="thread_local")
        try:
            step(x, y)
        finally:
            graph.capture_end()
    return graph


def cell_packed(width, batch, a, dev, lock):
    """Warm-up eager step, then one captured step replayed on every full batch; CPU: eager only
    (a smoke test of everything but streams and graphs)."""
    use_graph = dev.type == "cuda"
    with lock.shared():
        images, labels, gen = make_data(a.images, dev)
    t0 = time.perf_counter()
    with lock.shared():
        model = resnet18(width, 1, 10).to(dev).train()
        # Everything the graph reads or writes exists before capture and is only updated in place.
        bufs = [torch.zeros_like(p) for p in model.parameters()]
        lr_t, mom_t = torch.zeros((), device=dev), torch.zeros((), device=dev)
        loss_sum = torch.zeros((), device=dev, dtype=torch.float64)
        correct = torch.zeros((), device=dev, dtype=torch.int64)
        static_x = torch.empty((batch, 1, 28, 28), device=dev)
        static_y = torch.empty((batch,), device=dev, dtype=torch.int64)
    step = make_step(model, bufs, lr_t, mom_t, loss_sum, correct, a.bf16)
    total, t, warmed, graph = a.epochs * math.ceil(a.images / batch), 0, False, None
    for _ in range(a.epochs):
        with lock.shared():
            loss_sum.zero_(), correct.zero_()
        it = batches(images, labels, gen, batch)
        while True:
            with lock.shared():
                x, y = next(it, (None, None))  # the gather and augmentation are GPU work too
                if x is None:
                    break
                lr, mom = one_cycle(t, total)
                t += 1
                lr_t.fill_(lr), mom_t.fill_(mom)  # stream-ordered before the step that reads them
                if not use_graph or y.shape[0] < batch or not warmed:
                    step(x, y)  # CPU, the partial last batch, or the warm-up before capture
                    warmed = warmed or y.shape[0] == batch
                    continue
                static_x.copy_(x), static_y.copy_(y)
            if graph is None:
                graph = capture(step, static_x, static_y, lock)  # records, runs nothing
            with lock.shared():
                graph.replay()
        with lock.shared():
            loss_sum.item(), correct.item()  # the epoch's only sync, of this worker's stream alone
    return time.perf_counter() - t0


def worker(cells, a, dev, lock, emit, errors, stop):
    try:
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
            stream = torch.cuda.Stream(device=dev)
            ctx = torch.cuda.stream(stream)  # all of this thread's work, tensors included
        else:
            ctx = contextlib.nullcontext()
        with ctx:
            while not stop.is_set():
                try:
                    width, batch = cells.get_nowait()
                except queue.Empty:
                    return
                emit(width, batch, cell_packed(width, batch, a, dev, lock))
                if dev.type == "cuda":
                    # A finished graph's pool and a stream's cached blocks return to the device
                    # only by empty_cache: an OOM frees them only while no capture runs.
                    with lock.exclusive():
                        torch.cuda.empty_cache()
    except BaseException as e:  # noqa: BLE001 — handed to the main thread, which fails
        errors.append(e)
        stop.set()


def run_grid(a, dev):
    widths = [int(v) for v in a.widths.split(",")]
    sizes = [int(v) for v in a.batches.split(",")]
    cells = list(itertools.product(widths, sizes))
    print_lock = threading.Lock()
    data = {"data": a.data, **({"workers": a.workers} if a.data == "loader" else {})}

    def emit(width, batch, secs, last_epoch_secs=None):
        n = a.images * a.epochs
        row = {"system": "pytorch", "mode": a.mode, **data, "width": width, "batch_size": batch,
               "images": n, "seconds": secs, "images_per_sec": n / secs}
        if last_epoch_secs is not None:
            row["last_epoch_images_per_sec"] = a.images / last_epoch_secs
        with print_lock:
            print(json.dumps(row), flush=True)

    # The order of phasezoo's queue (pz_train::pack) in both modes: a cell needing more than
    # half the GPU first, then the most expected work first (steps × (multiply-adds per step +
    # a step's fixed cost, 2e10)), so that the long small-batch cells of wide models start
    # early. A process's first cell also pays its one-off costs (CUDA context, cuDNN and cuBLAS
    # handles, kernels loaded on first use), and the same cell should pay them in both systems.
    # Multiply-adds per step approximate phasezoo's count: ResNet-18 on 28×28 images, forward +
    # backward ≈ 3 × 0.43e9 × (width / 64)² per image.
    def expected_cost(wb):
        width, batch = wb
        step = 3 * 0.43e9 * (width / 64) ** 2 * batch
        share = step / 2e13
        steps = a.epochs * math.ceil(a.images / batch)
        return (1, share) if share > 0.5 else (0, steps * (step + 2e10))

    cells.sort(key=expected_cost, reverse=True)
    t0 = time.perf_counter()
    if a.process_per_cell:
        jobs = 1
        for width, batch in cells:
            emit_process_cell(a, width, batch, print_lock)
    elif a.mode == "eager":
        jobs = 1
        for width, batch in cells:
            emit(width, batch, *cell_eager(width, batch, a, dev))
    else:
        jobs = a.jobs
        work = queue.Queue()
        for c in cells:
            work.put(c)
        errors, stop, lock = [], threading.Event(), GpuLock()
        threads = [threading.Thread(target=worker, args=(work, a, dev, lock, emit, errors, stop))
                   for _ in range(jobs)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        if errors:
            raise RuntimeError(f"{len(errors)} worker(s) failed") from errors[0]
    wall = time.perf_counter() - t0
    images = a.images * a.epochs * len(cells)
    print(json.dumps({"system": "pytorch", "mode": a.mode, **data, "grid": True,
                      "process_per_cell": a.process_per_cell,
                      "cells": len(cells), "images": images, "wall_s": wall,
                      "images_per_sec": images / wall, "jobs": jobs,
                      "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
                      "precision": "bf16_autocast" if a.bf16 else "float32",
                      "cudnn_deterministic": a.deterministic, "torch": torch.__version__}), flush=True)


def emit_process_cell(a, width, batch, print_lock):
    """Runs one cell in a new Python process, as the original's Ray Tune ran each trial in a new
    actor process (`reuse_actors=False`, ../shared/SPEC.md §6.1), and prints its row: `seconds`
    from the process's start to its exit (interpreter, `import torch`, CUDA context, the cell),
    `in_process_seconds` the cell's own clock as one-process runs report it."""
    argv = [sys.executable, os.path.abspath(__file__), "--mode", "eager", "--widths", str(width),
            "--batches", str(batch), "--images", str(a.images), "--epochs", str(a.epochs),
            "--device", a.device, "--data", a.data, "--workers", str(a.workers)]
    argv += ["--deterministic"] * a.deterministic + ["--bf16"] * a.bf16
    start = time.perf_counter()
    child = subprocess.run(argv, capture_output=True, text=True)
    secs = time.perf_counter() - start
    if child.returncode != 0:
        raise RuntimeError(f"cell {width}x{batch} failed ({child.returncode}): {child.stderr[-2000:]}")
    cell = next(json.loads(line) for line in child.stdout.splitlines()
                if line.startswith("{") and not json.loads(line).get("grid"))
    n = a.images * a.epochs
    cell.update({"process_per_cell": True, "in_process_seconds": cell["seconds"], "seconds": secs,
                 "images_per_sec": n / secs})
    with print_lock:
        print(json.dumps(cell), flush=True)


def check():
    """CPU: one_cycle equals OneCycleLR over 50 steps; make_step's foreach SGD equals
    torch.optim.SGD + OneCycleLR over 3 steps of a tiny ResNet; LoaderData's transforms and
    batches, where torchvision is there."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=MAX_LR, momentum=MOMENTUM)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=MAX_LR, total_steps=50)
    for t in range(50):
        group = opt.param_groups[0]
        assert one_cycle(t, 50) == (group["lr"], group["momentum"]), (t, one_cycle(t, 50), group)
        opt.step(), sched.step()
    print("one_cycle: lr and momentum equal OneCycleLR's exactly over 50 steps")

    torch.manual_seed(0)
    ref = resnet18(2, 1, 10).train()
    mine = copy.deepcopy(ref)
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    opt = torch.optim.SGD(ref.parameters(), lr=MAX_LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=MAX_LR, total_steps=10)
    bufs = [torch.zeros_like(p) for p in mine.parameters()]
    lr_t, mom_t = torch.zeros(()), torch.zeros(())
    loss_sum, correct = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.int64)
    step = make_step(mine, bufs, lr_t, mom_t, loss_sum, correct, False)
    for t in range(3):
        opt.zero_grad(set_to_none=True)
        forward_loss(ref, x, y, False)[1].backward()
        opt.step(), sched.step()
        lr, mom = one_cycle(t, 10)
        lr_t.fill_(lr), mom_t.fill_(mom)
        step(x, y)
    diff = max((p - q).abs().max().item() for p, q in
               zip(itertools.chain(ref.parameters(), ref.buffers()),
                   itertools.chain(mine.parameters(), mine.buffers())))
    assert diff <= 1e-6, f"foreach SGD differs from torch.optim.SGD by {diff}"
    print(f"sgd_foreach: parameters and BatchNorm buffers equal torch.optim.SGD's after 3 steps "
          f"(max abs diff {diff:.3g})")

    try:
        import torchvision  # noqa: F401
    except ImportError:
        print("LoaderData: skipped, torchvision is not importable here")
        return
    # Crop padding and rotation fill are 0, so a black image stays black whatever the draws, and
    # the centre of a white one stays white (a crop moves it by 4 at most, rotation keeps it).
    torch.manual_seed(0)  # the transforms draw from torch's default generator
    black, white = torch.tensor((0 - MEAN) / STD), torch.tensor((1 - MEAN) / STD)
    data = LoaderData(torch.tensor([0, 255], dtype=torch.uint8)[:, None, None].expand(2, 28, 28),
                      torch.tensor([3, 7]))
    filled = 0
    for _ in range(20):
        (x0, y0), (x1, y1) = data[0], data[1]
        assert x0.shape == x1.shape == (1, 28, 28) and x0.dtype == torch.float32
        assert (y0, y1) == (3, 7)
        assert torch.isclose(x0, black).all(), "a black image is not Normalize(0) everywhere"
        assert torch.isclose(x1[0, 14, 14], white), "a white image's centre is not Normalize(1)"
        assert (torch.isclose(x1, black) | torch.isclose(x1, white)).all(), x1.unique()
        filled += bool(torch.isclose(x1, black).any())
    assert filled > 0, "20 transforms of a white image brought in no zero fill"
    x, y = next(iter(torch.utils.data.DataLoader(data, batch_size=2)))
    assert x.shape == (2, 1, 28, 28) and x.dtype == torch.float32, (x.shape, x.dtype)
    assert y.dtype == torch.int64 and y.tolist() == [3, 7], y
    print("LoaderData: (1, 28, 28) float32 samples, Normalize(MEAN, STD) of ToTensor's [0, 1], "
          "zero fill; DataLoader batches (B, 1, 28, 28) with int64 labels")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=["eager", "packed"], default="eager")
    p.add_argument("--widths", default="2,4,8,16,32,64,128,256")
    p.add_argument("--batches", default="8,16,32,64,128,256,512,1024")
    p.add_argument("--images", type=int, default=4096)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--jobs", type=int, default=8)
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--deterministic", action="store_true",
                   help="cudnn.deterministic = True, as the original zoo ran")
    p.add_argument("--device", default="cuda")
    p.add_argument("--data", choices=["gpu", "loader"], default="gpu",
                   help="loader: the original's CPU data path (DataLoader workers, torchvision)")
    p.add_argument("--workers", type=int, default=6, help="DataLoader workers for --data loader")
    p.add_argument("--process-per-cell", action="store_true",
                   help="eager only: each cell in a new Python process, as Ray Tune ran the "
                        "original's trials (reuse_actors=False)")
    p.add_argument("--check", action="store_true")
    a = p.parse_args()
    if a.process_per_cell and a.mode != "eager":
        p.error("--process-per-cell is the original's one-trial-per-process way: use it with "
                "--mode eager only")
    if a.data == "loader" and a.mode != "eager":
        p.error("--data loader is the original's data path, one cell at a time: use it with "
                "--mode eager only")
    if a.check:
        return check()
    if a.data == "loader":
        try:
            import torchvision  # noqa: F401
        except ImportError as e:
            sys.exit(f"resnet_zoo_pytorch: --data loader needs torchvision ({e})")
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.exit("resnet_zoo_pytorch: CUDA is not available here (use --device cpu for a smoke test)")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    if a.mode == "packed" and dev.type != "cuda":
        print("resnet_zoo_pytorch: no CUDA device: packed mode runs its threads without streams or "
              "graphs (a smoke test, not a measurement)", file=sys.stderr)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = a.deterministic
    run_grid(a, dev)


if __name__ == "__main__":
    main()
