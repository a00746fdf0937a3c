"""PyTorch reference for phasezoo's PINN checkpoints (docs/FORMAT.md).

- `Mlp`: the module whose state dict a phasezoo MLP `model.safetensors` is (keys net.0.weight,
  net.0.bias, net.2.weight, ...: nn.Sequential of Linear and Tanh, input columns (x, t)).
- `load_safetensors`: reads a safetensors file by its format (8-byte header length, JSON header,
  raw little-endian data) without executing anything and without the `safetensors` package.
- `python python/phasezoo_pinn.py MODEL_DIR [EPOCH]` loads a checkpoint (default: the newest)
  into `Mlp`, evaluates the convection problem's relative L2 error on the evaluation grid of the
  model's params.json, and prints one JSON line {"epoch", "test_loss", "test_error"}, to compare
  with the same epoch's line of result.json.
"""
import json
import math
import pathlib
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}


def load_safetensors(path):
    raw = pathlib.Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    data = raw[8 + n:]
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[start:end]), dtype=DTYPES[info["dtype"]])
        tensors[name] = t.reshape(info["shape"])
    return tensors


class Mlp(torch.nn.Module):
    def __init__(self, sizes):
        super().__init__()
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(torch.nn.Tanh())
        self.net = torch.nn.Sequential(*layers)

    def forward(self, xt):
        return self.net(xt)


def evaluate(model_dir, epoch=None):
    model_dir = pathlib.Path(model_dir)
    params = json.loads((model_dir / "params.json").read_text())
    checkpoints = sorted(model_dir.glob("checkpoint_*"))
    ckpt = checkpoints[-1] if epoch is None else model_dir / f"checkpoint_{int(epoch):06d}"
    state = load_safetensors(ckpt / "model.safetensors")
    sizes = [2] + params["model"]["hidden"] + [1]
    dtype = next(iter(state.values())).dtype
    model = Mlp(sizes).to(dtype)
    model.load_state_dict(state, strict=True)
    problem = params["problem"]
    nx, nt, beta = problem["eval_x"], problem["eval_t"], problem["beta"]
    x = torch.arange(nx, dtype=torch.float64) * (2 * math.pi / nx)
    t = torch.linspace(0, 1, nt, dtype=torch.float64) if nt > 1 else torch.zeros(1, dtype=torch.float64)
    tt, xx = torch.meshgrid(t, x, indexing="ij")
    xt = torch.stack([xx.reshape(-1), tt.reshape(-1)], 1).to(dtype)
    with torch.no_grad():
        u = model(xt).squeeze(1).double()
    exact = torch.sin(xt[:, 0].double() - beta * xt[:, 1].double())
    err = ((u - exact) ** 2).sum()
    return {
        "epoch": int(ckpt.name.split("_")[1]),
        "test_loss": float(err / exact.numel()),
        "test_error": float(torch.sqrt(err / (exact ** 2).sum())),
    }


if __name__ == "__main__":
    print(json.dumps(evaluate(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)))
