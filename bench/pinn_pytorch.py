"""PyTorch baseline for the phasezoo benchmark: a zoo of 1-D convection PINNs.

Problem: u_t + beta*u_x = 0, x in [0, 2pi], t in [0, 1], u(x,0) = sin x, periodic in x;
exact solution u = sin(x - beta t).  Per model: MLP 2-50-50-50-50-1 (tanh), Xavier-normal
weights, zero biases; 1000 collocation points (fixed, drawn from the model's seed), 256
initial points, 100 boundary times (u(0,t) vs u(2pi,t)); loss = residual MSE + initial MSE +
periodic-boundary MSE, u_t and u_x by autograd (double backward); full-batch Adam with a
per-model learning rate.  Zoo: beta in geomspace(1,50,14) x lr in geomspace(1e-4,1e-1,10)
x seeds 0..4 = 700 models (order: beta slowest, then lr, then seed fastest).

What it measures (model-steps/s, one step = one full-batch gradient update of one model):
  --mode single : models trained one after another (nn.Sequential + torch.optim.Adam).  Only
                  the first --single-models M models are timed, S steps each;
                  model_steps_per_s = M*S/wall.
  --mode fused  : all N models as ONE population (stacked weights [N,in,out], baddbmm, one
                  forward over all points per step, hand-written batched Adam with per-model
                  lr); model_steps_per_s = N*S/wall.  --chunk C trains the population as
                  consecutive chunks of <= C models (each chunk S steps), wall = total.
Both: 10 warm-up steps on a throwaway copy of the first model/chunk, excluded from timing;
torch.cuda.synchronize() before each clock read; TF32 off (true fp32 matmuls).
final_loss_mean = mean over timed models of the loss at the last step.
--check adds rel_l2_min / rel_l2_median against the exact solution on a 256x100 grid.

Command lines (GPU):
  python bench/pinn_pytorch.py --mode fused  --steps 1000 --check
  python bench/pinn_pytorch.py --mode single --steps 1000 --single-models 5 --check
Quick CPU tests:
  python bench/pinn_pytorch.py --mode fused  --device cpu --models 8 --steps 50
  python bench/pinn_pytorch.py --mode single --device cpu --single-models 2 --steps 50
  python bench/pinn_pytorch.py --mode fused  --device cpu --only-beta 1 --only-lr 1e-3 \
      --models 1 --steps 2000 --check
Prints exactly one JSON line on stdout.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn

LAYERS = [2, 50, 50, 50, 50, 1]
NF, NI, NB = 1000, 256, 100          # collocation, initial, boundary points per model
TWO_PI = 2.0 * math.pi
B1, B2, EPS = 0.9, 0.999, 1e-8


def geomspace(a, b, n):
    return [math.exp(math.log(a) + (math.log(b) - math.log(a)) * i / (n - 1)) for i in range(n)]


def zoo():
    """List of (beta, lr, seed), beta slowest, then lr, then seed fastest."""
    return [(beta, lr, seed) for beta in geomspace(1, 50, 14)
            for lr in geomspace(1e-4, 1e-1, 10) for seed in range(5)]


def init_model(seed):
    """Weights [in,out], biases [1,out] and points X [P,2] of one model (CPU, float32)."""
    g = torch.Generator().manual_seed(seed)
    Ws, bs = [], []
    for fi, fo in zip(LAYERS[:-1], LAYERS[1:]):
        Ws.append(torch.randn(fi, fo, generator=g) * math.sqrt(2.0 / (fi + fo)))  # Xavier normal
        bs.append(torch.zeros(1, fo))
    xf = torch.rand(NF, generator=g) * TWO_PI
    tf = torch.rand(NF, generator=g)
    xi = torch.arange(NI, dtype=torch.float64) * (TWO_PI / NI)
    tb = torch.linspace(0, 1, NB, dtype=torch.float64)
    X = torch.cat([torch.stack([xf, tf], 1),
                   torch.stack([xi, torch.zeros(NI, dtype=torch.float64)], 1).float(),
                   torch.stack([torch.zeros(NB, dtype=torch.float64), tb], 1).float(),
                   torch.stack([torch.full((NB,), TWO_PI, dtype=torch.float64), tb], 1).float()])
    return Ws, bs, X


def pinn_loss(u, du, beta, sin_xi):
    """u [N,P], du [N,P,2] (d/dx, d/dt), beta [N,1] -> per-model loss [N]."""
    r = du[:, :NF, 1] + beta * du[:, :NF, 0]
    l_f = r.pow(2).mean(1)
    l_i = (u[:, NF:NF + NI] - sin_xi).pow(2).mean(1)
    l_b = (u[:, NF + NI:NF + NI + NB] - u[:, NF + NI + NB:]).pow(2).mean(1)
    return l_f + l_i + l_b


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def eval_grid():
    x = torch.arange(256, dtype=torch.float64) * (TWO_PI / 256)
    t = torch.linspace(0, 1, 100, dtype=torch.float64)
    xx, tt = torch.meshgrid(x, t, indexing="ij")
    return torch.stack([xx.reshape(-1), tt.reshape(-1)], 1)   # [25600,2] float64 (CPU)


def rel_l2(u_pred, Xg, beta):
    exact = torch.sin(Xg[:, 0] - beta * Xg[:, 1])
    return (torch.linalg.norm(u_pred.double().cpu() - exact) / torch.linalg.norm(exact)).item()


# ----------------------------------------------------------------------------- single
def make_seq(Ws, bs, dev, dtype):
    mods = []
    for i, (W, b) in enumerate(zip(Ws, bs)):
        lin = nn.Linear(W.shape[0], W.shape[1])
        with torch.no_grad():
            lin.weight.copy_(W.T)
            lin.bias.copy_(b[0])
        mods += [lin] + ([nn.Tanh()] if i < len(Ws) - 1 else [])
    return nn.Sequential(*mods).to(dev, dtype)


def train_single(spec, steps, dev, dtype, sin_xi):
    beta, lr, seed = spec
    Ws, bs, X = init_model(seed)
    model = make_seq(Ws, bs, dev, dtype)
    X = X.to(dev, dtype).requires_grad_(True)
    beta_t = torch.tensor([[beta]], device=dev, dtype=dtype)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(B1, B2), eps=EPS)
    loss = None
    for _ in range(steps):
        u = model(X)
        du, = torch.autograd.grad(u.sum(), X, create_graph=True)
        loss = pinn_loss(u.T, du.unsqueeze(0), beta_t, sin_xi)[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model, loss.detach()


# ----------------------------------------------------------------------------- fused
class Population:
    def __init__(self, specs, dev, dtype):
        inits = [init_model(s) for (_, _, s) in specs]
        L = len(LAYERS) - 1
        self.params = []
        for l in range(L):
            self.params.append(torch.stack([m[0][l] for m in inits]).to(dev, dtype).requires_grad_(True))
            self.params.append(torch.stack([m[1][l] for m in inits]).to(dev, dtype).requires_grad_(True))
        self.X = torch.stack([m[2] for m in inits]).to(dev, dtype).requires_grad_(True)   # [N,P,2]
        self.beta = torch.tensor([[b] for (b, _, _) in specs], device=dev, dtype=dtype)  # [N,1]
        self.lr = torch.tensor([b for (_, b, _) in specs], device=dev, dtype=dtype).view(-1, 1, 1)
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    def forward(self, X):
        h = X
        n = len(self.params) // 2
        for l in range(n):
            h = torch.baddbmm(self.params[2 * l + 1], h, self.params[2 * l])
            if l < n - 1:
                h = torch.tanh(h)
        return h                                                       # [N,P,1]

    def step(self, sin_xi):
        u = self.forward(self.X)
        du, = torch.autograd.grad(u.sum(), self.X, create_graph=True)
        losses = pinn_loss(u.squeeze(-1), du, self.beta, sin_xi)      # [N]
        grads = torch.autograd.grad(losses.sum(), self.params)
        self.t += 1
        bc1, bc2 = 1 - B1 ** self.t, 1 - B2 ** self.t
        with torch.no_grad():
            for p, g, m, v in zip(self.params, grads, self.m, self.v):
                m.mul_(B1).add_(g, alpha=1 - B1)
                v.mul_(B2).addcmul_(g, g, value=1 - B2)
                denom = (v.sqrt() / math.sqrt(bc2)).add_(EPS)
                p.sub_((m / denom).mul_(self.lr / bc1))
        return losses.detach()


# ----------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=["single", "fused"], required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--models", type=int, default=None, help="first N models of the zoo")
    ap.add_argument("--single-models", type=int, default=5, help="models timed in single mode")
    ap.add_argument("--chunk", type=int, default=None, help="fused: at most C models at once")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--only-beta", type=float, default=None, help="keep models with this beta")
    ap.add_argument("--only-lr", type=float, default=None, help="keep models with this lr")
    ap.add_argument("--check", action="store_true", help="rel. L2 error vs exact solution")
    a = ap.parse_args()

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev, dtype = torch.device(a.device), getattr(torch, a.dtype)
    close = lambda p, q: abs(p - q) <= 1e-3 * abs(q)
    specs = [s for s in zoo() if (a.only_beta is None or close(s[0], a.only_beta))
             and (a.only_lr is None or close(s[1], a.only_lr))]
    if a.models is not None:
        specs = specs[:a.models]
    if not specs:
        raise SystemExit("no models selected")
    sin_xi = torch.sin(torch.arange(NI, dtype=torch.float64) * (TWO_PI / NI)).to(dev, dtype)
    Xg = eval_grid()
    errs, final_losses = [], []

    if a.mode == "single":
        specs = specs[:a.single_models]
        train_single(specs[0], a.warmup, dev, dtype, sin_xi)          # warm-up, discarded
        sync(dev)
        t0 = time.perf_counter()
        trained = [train_single(s, a.steps, dev, dtype, sin_xi) for s in specs]
        sync(dev)
        wall = time.perf_counter() - t0
        final_losses = [l.item() for _, l in trained]
        if a.check:
            with torch.no_grad():
                for (model, _), (beta, _, _) in zip(trained, specs):
                    errs.append(rel_l2(model(Xg.to(dev, dtype))[:, 0], Xg, beta))
        note = f"first {len(specs)} models trained one at a time, {a.steps} steps each"
    else:
        C = a.chunk or len(specs)
        chunks = [specs[i:i + C] for i in range(0, len(specs), C)]
        warm = Population(chunks[0], dev, dtype)                        # warm-up, discarded
        for _ in range(a.warmup):
            warm.step(sin_xi)
        del warm
        sync(dev)
        t0 = time.perf_counter()
        pops, last = [], []
        for ch in chunks:
            pop = Population(ch, dev, dtype)
            for _ in range(a.steps):
                losses = pop.step(sin_xi)
            last.append(losses)
            pops.append(pop if a.check else None)
        sync(dev)
        wall = time.perf_counter() - t0
        final_losses = torch.cat(last).tolist()
        if a.check:
            with torch.no_grad():
                for pop, ch in zip(pops, chunks):
                    u = pop.forward(Xg.to(dev, dtype).expand(len(ch), -1, -1).contiguous())
                    errs += [rel_l2(u[i, :, 0], Xg, ch[i][0]) for i in range(len(ch))]
        note = f"{len(specs)} models as one population in {len(chunks)} chunk(s) of <= {C}, {a.steps} steps"

    n = len(specs)
    out = {"impl": "pytorch", "mode": a.mode,
           "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
           "torch": torch.__version__, "models": n, "steps": a.steps, "wall_s": wall,
           "model_steps_per_s": n * a.steps / wall,
           "final_loss_mean": sum(final_losses) / len(final_losses),
           "dtype": a.dtype, "note": note}
    if a.check:
        out["rel_l2_min"] = min(errs)
        out["rel_l2_median"] = statistics.median(errs)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
