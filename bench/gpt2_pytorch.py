"""nanoGPT-style PyTorch trainer of phasezoo's GPT-2: the baseline of bench/lm-gpu.sh (issue 22).

    python bench/gpt2_pytorch.py --data .devdata/shakespeare --spec bench/lm-124m.toml
    python bench/gpt2_pytorch.py --data .devdata/shakespeare --spec bench/lm-grid.toml
    python bench/gpt2_pytorch.py --data .devdata/shakespeare --model-dim 768 --depth 12 --heads 12 \
        --context 1024 --batch 8 --steps 200 [--epochs 5] [--no-compile] [--device cuda]
    python bench/gpt2_pytorch.py --data ... --grid --widths 64,128 --batches 8,32 --head-dim 64 ...
    python bench/gpt2_pytorch.py --check          # CPU self-check against transformers' GPT-2

`--spec` takes every setting from a phasezoo zoo spec (the model, the recipe, the token budget,
the grid's widths and batch sizes), so that both systems run the same workload; flags given
after it are ignored where the spec sets the value.

The model is phasezoo's GPT-2 (crates/models/src/gpt2/) written the nanoGPT way (model.py, with
nn.Linear instead of Hugging Face's Conv1D): pre-LayerNorm blocks (eps 1e-5, with biases),
causal attention through F.scaled_dot_product_attention(is_causal=True) (flash on CUDA), GELU
(tanh), learned positions, the token embedding tied to the output head, biases wherever GPT-2 has
them, no dropout, vocabulary 50257 unpadded; init N(0, 0.02), the two projections into the
residual stream N(0, 0.02/sqrt(2 depth)), zero biases. `--check` loads its weights into
`transformers.GPT2LMHeadModel` and compares logits.

The recipe is phasezoo's (crates/train/src/lm/): float32 parameters, bf16 autocast on CUDA
(CPU runs float32, as phasezoo does), torch.optim.AdamW(fused=True) with betas (0.9, 0.95),
eps 1e-8 and weight decay 0.1 on parameters of 2 or more dims only, nanoGPT's get_lr (linear
warm-up, cosine decay to min_lr at the last step), clip_grad_norm_(1.0), zero_grad(set_to_none),
gradient accumulation over --micro-batch windows (the batch's mean loss whatever the split).
The model is wrapped in torch.compile (--no-compile: eager). Data: random windows of T + 1
tokens of a nanoGPT uint16 train.bin (memory-mapped; the windows of the next step are gathered,
pinned and copied while the device runs this one), as nanoGPT's get_batch. The loss stays on the
device, read once per epoch (nanoGPT reads it every log_interval steps: one sync each).

Epochs as phasezoo's (bench/lm-*.toml): before training, the loss on --eval-windows fixed
training windows and on as many fixed validation windows (evenly spaced starts over val.bin);
after every epoch, the validation loss again. Evaluations run the uncompiled model (no second
graph to compile for inference) and are timed apart from the steps.

Rates: tokens/s of the steps of every epoch but the first (the first pays torch.compile and
every other first-step cost); phasezoo's `tokens_per_s` of its epochs 2.. is the same measure.
MFU = tokens/s x (6N + 12 L H Q T) / 989.5e12 (nanoGPT's estimate_mfu: N the parameters without
the position table, L blocks, H heads, Q head dim, T context; the peak is the H100 SXM's dense
bf16 rate). --grid trains every (width, batch) one model at a time in this process, each compiled
afresh after torch._dynamo.reset() (as one nanoGPT run per model would), and reports the grid's
wall time with everything (model builds, compiles, evaluations) and without each model's first
epoch. One JSON line per model and one for the grid, on stdout.
"""
import argparse
import itertools
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lm_spec import apply_spec  # noqa: E402

H100_BF16_DENSE_FLOPS = 989.5e12
LN_EPS = 1e-5
INIT_STD = 0.02


class Block(nn.Module):
    def __init__(self, d, heads, depth):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(d, eps=LN_EPS)
        self.c_attn = nn.Linear(d, 3 * d)
        self.attn_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d, eps=LN_EPS)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)
        for proj in (self.attn_proj, self.mlp_proj):
            proj.residual_std = INIT_STD / math.sqrt(2 * depth)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(n, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn_proj(y.transpose(1, 2).reshape(n, t, d))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocab, context, d, depth, heads):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(context, d)
        self.blocks = nn.ModuleList(Block(d, heads, depth) for _ in range(depth))
        self.ln_f = nn.LayerNorm(d, eps=LN_EPS)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, getattr(m, "residual_std", INIT_STD))
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, idx, targets):
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe.weight[:t]
        for block in self.blocks:
            x = block(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)  # the tied head
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


def parameter_count(vocab, context, d, depth):
    """phasezoo's Gpt2Config::parameter_count: V d + T d + depth (12 d^2 + 13 d) + 2 d."""
    return vocab * d + context * d + depth * (12 * d * d + 13 * d) + 2 * d


def flops_per_token(vocab, context, d, depth, heads):
    """nanoGPT's estimate_mfu numerator per token: 6N + 12 L H Q T, N without the position table."""
    n = parameter_count(vocab, context, d, depth) - context * d
    return 6 * n + 12 * depth * heads * (d // heads) * context


def get_lr(it, lr, min_lr, warmup, decay_iters):
    """nanoGPT's get_lr with lr_decay_iters = the last step (crates/train/src/lm/schedule.rs)."""
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    if it > decay_iters:
        return min_lr
    ratio = (it - warmup) / max(decay_iters - warmup, 1)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * min(ratio, 1.0))) * (lr - min_lr)


def token_file(data, split):
    path = data if data.endswith(".bin") else os.path.join(data, f"{split}.bin")
    if data.endswith(".bin") and split == "val":
        path = os.path.join(os.path.dirname(data), "val.bin")
    return np.memmap(path, dtype=np.uint16, mode="r")


class Windows:
    """Random windows of T + 1 tokens per step (nanoGPT's get_batch, one gather for the batch)."""

    def __init__(self, tokens, context, batch, device, seed):
        self.tokens, self.context, self.batch, self.device = tokens, context, batch, device
        self.rng = np.random.default_rng(seed)
        self.offsets = np.arange(context + 1)

    def next(self):
        starts = self.rng.integers(0, len(self.tokens) - self.context, self.batch)
        w = torch.from_numpy(self.tokens[starts[:, None] + self.offsets].astype(np.int64))
        if self.device.type == "cuda":
            w = w.pin_memory().to(self.device, non_blocking=True)
        return w[:, :-1], w[:, 1:]


def even_windows(tokens, n, context, device):
    """phasezoo's even_windows: n windows whose starts are evenly spaced over the file."""
    last = len(tokens) - (context + 1)
    starts = [0 if n == 1 else math.floor(i * last / (n - 1) + 0.5) for i in range(n)]  # f64::round
    w = torch.from_numpy(np.stack([tokens[s:s + context + 1].astype(np.int64) for s in starts]))
    w = w.to(device)
    return w[:, :-1], w[:, 1:]


def autocast(device, bf16):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16)


def evaluate(model, windows, chunk, device, bf16):
    """Mean loss of `windows` (eager model, no_grad, at most `chunk` windows at once)."""
    x, y = windows
    total = torch.zeros((), dtype=torch.float64, device=device)
    with torch.no_grad(), autocast(device, bf16):
        for s in range(0, x.shape[0], chunk):
            total += model(x[s:s + chunk], y[s:s + chunk]).double() * x[s:s + chunk].shape[0]
    return total / x.shape[0]


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_model(args, d, batch, device, train, val, seed):
    """Train one model; its numbers as a dict (times in seconds)."""
    started = time.perf_counter()
    heads = d // args.head_dim if args.head_dim else args.heads
    torch.manual_seed(seed)
    model = GPT(args.vocab_size, args.context, d, args.depth, heads).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": args.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = not args.no_fused and device.type in ("cuda", "cpu")
    opt = torch.optim.AdamW(groups, lr=args.lr, betas=args.betas, eps=args.eps, fused=fused)
    step_fn = model if args.no_compile else torch.compile(model)
    bf16 = device.type == "cuda" and not args.float32
    micro = min(args.micro_batch or batch, batch)
    per_step = batch * args.context
    if args.steps:
        steps_per_epoch = -(-args.steps // args.epochs)
    else:
        steps_per_epoch = -(-args.tokens_per_epoch // per_step)  # phasezoo's steps_per_epoch
    total = steps_per_epoch * args.epochs
    stream = Windows(train, args.context, batch, device, seed)
    fixed_train = even_windows(train, args.eval_windows, args.context, device)
    fixed_val = even_windows(val, args.eval_windows, args.context, device)
    eval_chunk = min(micro, args.eval_windows)

    eval_secs = 0.0

    def timed_eval(windows):
        nonlocal eval_secs
        sync(device)
        t = time.perf_counter()
        loss = evaluate(model, windows, eval_chunk, device, bf16).item()
        eval_secs += time.perf_counter() - t
        return loss

    losses = [(timed_eval(fixed_train), timed_eval(fixed_val))]
    epoch_secs, step = [], 0
    x, y = stream.next()
    for epoch in range(args.epochs):
        sync(device)
        t = time.perf_counter()
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        for i in range(steps_per_epoch):
            # --profile: the first step of the second epoch, as phasezoo's PHASEZOO_TORCH_PROFILE.
            prof = None
            if args.profile and epoch == 1 and i == 0:
                prof = torch.profiler.profile(activities=profiler_activities(device), record_shapes=True)
                prof.__enter__()
            lr = get_lr(step, args.lr, args.min_lr, args.warmup_steps, total - 1)
            for g in opt.param_groups:
                g["lr"] = lr
            for s in range(0, batch, micro):
                xm, ym = x[s:s + micro], y[s:s + micro]
                with autocast(device, bf16):
                    loss = step_fn(xm, ym) * (xm.shape[0] / batch)
                loss.backward()
                loss_sum += loss.detach().double()
            x, y = stream.next()  # the next step's windows, while the device works
            if args.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, args.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            if prof is not None:
                sync(device)
                prof.__exit__(None, None, None)
                prof.export_chrome_trace(args.profile)
        train_loss = loss_sum.item() / steps_per_epoch  # syncs: the epoch's steps are done
        epoch_secs.append(time.perf_counter() - t)
        losses.append((train_loss, timed_eval(fixed_val)))
    sync(device)
    seconds = time.perf_counter() - started
    steady_secs = sum(epoch_secs[1:])
    tokens_per_s = per_step * steps_per_epoch * (args.epochs - 1) / steady_secs if args.epochs > 1 else float("nan")
    fpt = flops_per_token(args.vocab_size, args.context, d, args.depth, heads)
    return {
        "system": "pytorch",
        "compile": not args.no_compile,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "model_dim": d,
        "depth": args.depth,
        "heads": heads,
        "context": args.context,
        "batch": batch,
        "micro_batch": micro,
        "parameters": parameter_count(args.vocab_size, args.context, d, args.depth),
        "steps": total,
        "tokens": per_step * total,
        "seconds": seconds,
        "first_epoch_s": epoch_secs[0],
        "steady_step_s": steady_secs,
        "eval_s": eval_secs,
        "seconds_without_first_epoch": seconds - epoch_secs[0],
        "tokens_per_s": tokens_per_s,
        "mfu": tokens_per_s * fpt / H100_BF16_DENSE_FLOPS,
        "flops_per_token": fpt,
        "train_loss": losses[-1][0],
        "val_loss": losses[-1][1],
        "initial_val_loss": losses[0][1],
    }


def ints(s):
    return [int(v) for v in s.split(",") if v]


def check():
    """CPU self-check: the model is transformers' GPT2LMHeadModel (logits and loss), its size is
    phasezoo's formula, the schedule is nanoGPT's landmarks, and a few compiled-off steps learn."""
    from transformers import GPT2Config, GPT2LMHeadModel

    vocab, context, d, depth, heads = 101, 16, 32, 2, 4
    torch.manual_seed(0)
    ours = GPT(vocab, context, d, depth, heads).double()
    assert sum(p.numel() for p in ours.parameters()) == parameter_count(vocab, context, d, depth)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=context, n_embd=d, n_layer=depth,
                                    n_head=heads, activation_function="gelu_new", resid_pdrop=0.0,
                                    embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=LN_EPS,
                                    tie_word_embeddings=True, bos_token_id=None,
                                    eos_token_id=None)).double().eval()
    state = {"transformer.wte.weight": ours.wte.weight, "transformer.wpe.weight": ours.wpe.weight,
             "transformer.ln_f.weight": ours.ln_f.weight, "transformer.ln_f.bias": ours.ln_f.bias,
             "lm_head.weight": ours.wte.weight}
    for i, b in enumerate(ours.blocks):
        h = f"transformer.h.{i}."
        for name, m in [("ln_1", b.ln_1), ("ln_2", b.ln_2)]:
            state[h + name + ".weight"], state[h + name + ".bias"] = m.weight, m.bias
        for name, m in [("attn.c_attn", b.c_attn), ("attn.c_proj", b.attn_proj),
                        ("mlp.c_fc", b.c_fc), ("mlp.c_proj", b.mlp_proj)]:
            state[h + name + ".weight"], state[h + name + ".bias"] = m.weight.t(), m.bias  # Conv1D
    missing, unexpected = hf.load_state_dict({k: v.detach() for k, v in state.items()}, strict=False)
    assert not unexpected and all(k.endswith(".attn.bias") or k.endswith("masked_bias") for k in missing), (missing, unexpected)
    tokens = torch.randint(0, vocab, (3, context + 1))
    with torch.no_grad():
        out = hf(tokens[:, :-1])
        want = F.cross_entropy(out.logits.reshape(-1, vocab), tokens[:, 1:].reshape(-1))
        got = ours(tokens[:, :-1], tokens[:, 1:])
    assert abs(got.item() - want.item()) < 1e-10, (got.item(), want.item())
    assert get_lr(0, 6e-4, 6e-5, 100, 1000) == 6e-4 / 101 and get_lr(100, 6e-4, 6e-5, 100, 1000) == 6e-4
    assert abs(get_lr(1000, 6e-4, 6e-5, 100, 1000) - 6e-5) < 1e-18 and get_lr(1001, 6e-4, 6e-5, 100, 1000) == 6e-5
    assert parameter_count(50257, 1024, 768, 12) == 124_439_808  # GPT2LMHeadModel.from_pretrained("gpt2")
    print(json.dumps({"check": "ok", "loss": got.item(), "transformers_loss": want.item()}))


def profiler_activities(device):
    acts = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        acts.append(torch.profiler.ProfilerActivity.CUDA)
    return acts


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="CPU self-check, then exit")
    p.add_argument("--profile", help="write a torch.profiler Chrome trace of epoch 2's first step here")
    p.add_argument("--data", help="corpus folder with train.bin and val.bin (or a train.bin path)")
    p.add_argument("--spec", help="take every setting from this phasezoo zoo spec (bench/lm-*.toml)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--grid", action="store_true", help="train every (width, batch) of --widths x --batches")
    p.add_argument("--widths", default="64,128,256,512")
    p.add_argument("--batches", default="8,32,128,256")
    p.add_argument("--model-dim", type=int, default=768)
    p.add_argument("--depth", type=int, default=12)
    p.add_argument("--heads", type=int, default=12, help="heads (ignored when --head-dim is set)")
    p.add_argument("--head-dim", type=int, default=0, help="heads = width / head-dim (as phasezoo's spec)")
    p.add_argument("--context", type=int, default=1024)
    p.add_argument("--vocab-size", type=int, default=50257)
    p.add_argument("--batch", type=int, default=8, help="windows per optimizer step")
    p.add_argument("--micro-batch", type=int, default=0, help="windows per forward pass (0: the batch)")
    p.add_argument("--steps", type=int, default=0, help="optimizer steps in all (split over --epochs)")
    p.add_argument("--tokens-per-epoch", type=int, default=0, help="instead of --steps: ceil(tokens / (batch T)) steps an epoch")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--eval-windows", type=int, default=16)
    p.add_argument("--lr", type=float, default=6e-4)
    p.add_argument("--min-lr", type=float, default=6e-5)
    p.add_argument("--warmup-steps", type=int, default=10)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-compile", action="store_true", help="eager PyTorch")
    p.add_argument("--no-fused", action="store_true", help="torch.optim.AdamW without fused=True")
    p.add_argument("--float32", action="store_true", help="no bf16 autocast on CUDA")
    args = p.parse_args()
    args.betas, args.eps = (0.9, 0.95), 1e-8
    if args.check:
        check()
        return
    if args.spec:
        apply_spec(args, args.spec)
    if not args.data or not (args.steps or args.tokens_per_epoch):
        p.error("--data and one of --steps / --tokens-per-epoch are required")
    if args.epochs < 2:
        p.error("--epochs must be at least 2: the first epoch is left out of the rate")
    device = torch.device(args.device)
    train, val = token_file(args.data, "train"), token_file(args.data, "val")
    widths, batches = (ints(args.widths), ints(args.batches)) if args.grid else ([args.model_dim], [args.batch])
    grid_started = time.perf_counter()
    rows = []
    for d, batch in itertools.product(widths, batches):
        if args.grid and not args.no_compile:
            torch._dynamo.reset()  # a fresh compile per model, as one nanoGPT run per model
        row = train_model(args, d, batch, device, train, val, args.seed)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.grid:
        wall = time.perf_counter() - grid_started
        tokens = sum(r["tokens"] for r in rows)
        print(json.dumps({
            "system": "pytorch", "grid": True, "compile": not args.no_compile, "models": len(rows),
            "seconds": wall, "tokens": tokens, "tokens_per_s": tokens / wall,
            "seconds_without_first_epochs": sum(r["seconds_without_first_epoch"] for r in rows),
            "compile_and_first_epochs_s": sum(r["first_epoch_s"] for r in rows),
        }), flush=True)


if __name__ == "__main__":
    sys.exit(main())
