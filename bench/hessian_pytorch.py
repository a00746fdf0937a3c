"""PyTorch baseline of `phasezoo bench hessian`: the SPEC Hessian metric, PyHessian style.

Model: ReLU MLP 3072 -> width x depth -> 10 (nn.Sequential, kaiming-uniform weights, zero
biases), cross-entropy, CIFAR-shaped random inputs: 10 batches of 64 samples (SPEC section 3.1).
Hessian-vector products exactly as PyHessian's `dataloader_hv_product`: for every product and
every batch, forward, `loss.backward(create_graph=True)`, then `autograd.grad(grads, params,
grad_outputs=v)`, weighted by batch size. Top eigenvalue by power iteration and trace by
Hutchinson (Rademacher), each a fixed number of iterations (tolerance 0) so that both sides do
the same number of products. Timing: one warm-up run, torch.cuda.synchronize around the clock.

  python bench/hessian_pytorch.py --width 1024 --depth 8 --iterations 20
Prints one JSON line.
"""
import argparse
import json
import math
import time

import torch


def build(width, depth, device, seed):
    torch.manual_seed(seed)
    sizes = [3 * 32 * 32] + [width] * depth + [10]
    layers = []
    for i in range(len(sizes) - 1):
        lin = torch.nn.Linear(sizes[i], sizes[i + 1])
        bound = math.sqrt(6.0 / sizes[i])
        torch.nn.init.uniform_(lin.weight, -bound, bound)
        torch.nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(device).eval()
    data = [(torch.randn(64, sizes[0], device=device), torch.randint(10, (64,), device=device)) for _ in range(10)]
    return model, data


def hv_product(model, data, params, v):
    """PyHessian's dataloader_hv_product: recomputes the graph for every product."""
    total = [torch.zeros_like(p) for p in params]
    n = 0
    for x, y in data:
        model.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=False)
        total = [t + h * float(x.size(0)) for t, h in zip(total, hv)]
        n += x.size(0)
    return [t / float(n) for t in total]


def dot(a, b):
    return sum((x * y).sum() for x, y in zip(a, b))


def normalize(v):
    s = torch.sqrt(dot(v, v))
    return [x / (s + 1e-6) for x in v]


def metric(model, data, params, iterations):
    v = normalize([torch.randn_like(p) for p in params])
    eigenvalue = None
    for _ in range(iterations):  # power iteration, PyHessian.eigenvalues with top_n = 1
        hv = hv_product(model, data, params, v)
        eigenvalue = dot(hv, v).item()
        v = normalize(hv)
    samples = []
    for _ in range(iterations):  # Hutchinson, PyHessian.trace
        z = [torch.randint_like(p, high=2) * 2 - 1 for p in params]
        hz = hv_product(model, data, params, z)
        samples.append(dot(hz, z).item())
    return eigenvalue, sum(samples) / len(samples)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    device = torch.device(a.device)
    model, data = build(a.width, a.depth, device, 0)
    params = [p for p in model.parameters() if p.requires_grad]
    metric(model, data, params, a.iterations)  # warm-up
    sync(device)
    t0 = time.perf_counter()
    top_ev, trace = metric(model, data, params, a.iterations)
    sync(device)
    metric_s = time.perf_counter() - t0
    v = [torch.randn_like(p) for p in params]
    sync(device)
    t0 = time.perf_counter()
    for _ in range(a.iterations):
        hv_product(model, data, params, v)
    sync(device)
    rate = a.iterations / (time.perf_counter() - t0)
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(json.dumps({"impl": "pytorch-pyhessian", "device": name, "torch": torch.__version__,
                      "params": sum(p.numel() for p in params), "hvps": a.iterations, "hvps_per_s": rate,
                      "metric_s": metric_s, "top_ev": top_ev, "trace": trace}))


if __name__ == "__main__":
    main()
