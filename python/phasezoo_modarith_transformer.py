"""PyTorch reference for phasezoo's modular-arithmetic transformer (crates/train/src/modarith/).

A checkpoint of a `[problem] kind = "modarith"` zoo with `[model] architecture = "gpt2"` is the
state dict of `ModArithTransformer` below: token embeddings of 0..p and "=" (id p), learned
positions of the sequence [a, b, =], pre-LayerNorm GPT-2 blocks (eps 1e-5, causal attention,
GELU tanh form, Hugging Face Conv1D layout: weight [in, out]), ln_f, and a linear head on the
last position giving the p logits of a ∘ b mod p. No dropout.

    python python/phasezoo_modarith_transformer.py --heads 4 --weights model.safetensors

loads the weights with `load_state_dict(strict=True)` (in their own dtype) and prints one JSON
line {"keys": [state-dict keys in order], "logits": [[...]] (p², p)} for every pair, pair
i = (i // p, i % p). Safetensors files are read by their format (no code is executed).
"""
import argparse
import json
import math

import torch
from torch import nn

from phasezoo_pinn import load_safetensors


class Conv1D(nn.Module):
    """Hugging Face's Conv1D: y = x W + b, W [in, out]."""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(d_in, d_out))
        self.bias = nn.Parameter(torch.zeros(d_out))

    def forward(self, x):
        return x @ self.weight + self.bias


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.c_attn = Conv1D(d, 3 * d)  # columns [q | k | v], each split into heads in order
        self.c_proj = Conv1D(d, d)

    def forward(self, x):  # (N, T, d)
        n, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=-1)
        q, k, v = (z.view(n, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // self.heads)
        future = torch.ones(t, t, dtype=torch.bool).triu(1)
        y = scores.masked_fill(future, float("-inf")).softmax(-1) @ v  # (N, heads, T, head_dim)
        return self.c_proj(y.transpose(1, 2).reshape(n, t, d))


class Mlp(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.c_fc = Conv1D(d, 4 * d)
        self.c_proj = Conv1D(4 * d, d)

    def forward(self, x):
        return self.c_proj(nn.functional.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d, eps=1e-5)
        self.attn = Attention(d, heads)
        self.ln_2 = nn.LayerNorm(d, eps=1e-5)
        self.mlp = Mlp(d)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class ModArithTransformer(nn.Module):
    def __init__(self, p, d, depth, heads):
        super().__init__()
        self.p = p
        self.embedding = nn.Embedding(p + 1, d)  # row p is "="
        self.position = nn.Embedding(3, d)
        self.decoder = nn.Module()
        self.decoder.h = nn.ModuleList(Block(d, heads) for _ in range(depth))
        self.decoder.ln_f = nn.LayerNorm(d, eps=1e-5)
        self.decoder.head = nn.Linear(d, p)

    def forward(self, a, b):  # (N,), (N,) -> (N, p)
        tokens = torch.stack([a, b, torch.full_like(a, self.p)], dim=1)
        x = self.embedding(tokens) + self.position.weight
        for block in self.decoder.h:
            x = block(x)
        return self.decoder.head(self.decoder.ln_f(x[:, -1]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--heads", type=int, required=True)
    parser.add_argument("--weights", required=True)
    args = parser.parse_args()
    state = load_safetensors(args.weights)
    rows, d = state["embedding.weight"].shape
    depth = len({k.split(".")[2] for k in state if k.startswith("decoder.h.")})
    model = ModArithTransformer(rows - 1, d, depth, args.heads).to(state["embedding.weight"].dtype)
    model.load_state_dict(state, strict=True)
    p = rows - 1
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    with torch.no_grad():
        logits = model(a.flatten(), b.flatten())
    print(json.dumps({"keys": list(model.state_dict().keys()), "logits": logits.double().tolist()}))


if __name__ == "__main__":
    main()
