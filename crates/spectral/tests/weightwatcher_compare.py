"""Regenerates the WeightWatcher reference fixture for `tests/weightwatcher.rs`.

With `--weights FILE` (the fixture: the weights the Rust test makes, written by
`PZ_SPECTRAL_WEIGHTS=FILE cargo test -p pz-spectral --test weightwatcher -- --ignored`): loads
them into the small CNN below (checking every name and shape), runs WeightWatcher's `analyze()`
with its defaults on (a) the module and (b) the state dict, checks (a) and (b) agree, fits the
same eigenvalues with the `powerlaw` package too, and writes everything to
`fixtures/ww_small.json`. Without it: trains the CNN a few hundred CPU steps instead and
compares the same way (a check on trained weights; its file is not kept in git).

Recorded with weightwatcher 0.7.7, powerlaw 2.0.0, torch 2.11.0 (CPU), numpy 2.4, in a venv
apart from the repo's:

    python3 -m venv /tmp/wwvenv
    /tmp/wwvenv/bin/pip install weightwatcher==0.7.7 powerlaw==2.0.0   # + torch, safetensors
    /tmp/wwvenv/bin/python crates/spectral/tests/weightwatcher_compare.py

Runs in ~1 min on 2 CPU cores; no GPU (with CUDA present WeightWatcher rounds weights to f16).
"""

import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

import powerlaw
import weightwatcher as ww

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")


class SmallCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)  # 3 * 9 = 27 eigenvalues
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)  # 16 * 9 = 144
        self.conv3 = nn.Conv2d(32, 32, 1)  # 32
        self.norm = nn.BatchNorm2d(32)  # 1-D: not a layer
        self.fc1 = nn.Linear(128, 64)  # 64
        self.fc2 = nn.Linear(64, 64)  # 64
        self.fc3 = nn.Linear(64, 10)  # 10: WeightWatcher's small-N fit
        self.embed = nn.Embedding(40, 16)  # unused in forward, still a layer (16)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.norm(self.conv3(x)))
        x = nn.functional.adaptive_avg_pool2d(x, 2).flatten(1)  # [B, 128]
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


def train(model):
    # Labels from a fixed random two-layer teacher on the input's 2 x 2 average pool.
    g = torch.Generator().manual_seed(1)
    t1, t2 = torch.randn(12, 32, generator=g), torch.randn(32, 10, generator=g)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(400):
        x = torch.randn(64, 3, 8, 8, generator=g)
        y = (torch.tanh(nn.functional.avg_pool2d(x, 4).flatten(1) @ t1) @ t2).argmax(1)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss)


def analyze(model):
    watcher = ww.WeightWatcher(model=model)
    details = watcher.analyze(randomize=False, vectors=False, detX=False, mp_fit=False, plot=False)
    return details, watcher


def main():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = SmallCnn()
    os.makedirs(FIXTURES, exist_ok=True)
    if len(sys.argv) == 3 and sys.argv[1] == "--weights":
        path = sys.argv[2]
        # strict: every name and shape of the Rust fixture is the CNN's (BatchNorm's
        # num_batches_tracked may be absent).
        model.load_state_dict(load_file(path), strict=True)
        loss = None
    else:
        loss = train(model)
        path = os.path.join("/tmp", "ww_small_trained.safetensors")
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)

    by_module, _ = analyze(model)
    state = {k: v for k, v in load_file(path).items()}
    by_state, watcher = analyze(state)
    module_alpha = dict(zip(by_module["name"], by_module["alpha"]))
    state_alpha = dict(zip(by_state["name"], by_state["alpha"]))
    assert module_alpha.keys() == state_alpha.keys(), (module_alpha, state_alpha)
    assert all(np.isclose(module_alpha[k], state_alpha[k], rtol=1e-12) for k in module_alpha), (module_alpha, state_alpha)

    layers = []
    for _, row in by_state.iterrows():
        evals = watcher.get_ESD(layer=int(row["layer_id"]))
        nz = evals[evals > 1e-5]
        # powerlaw 2.0 bounds alpha to [0, 3] by default; WeightWatcher's fit does not.
        pl = powerlaw.Fit(nz, verbose=False, parameter_ranges={"alpha": [1, 1000]})
        layers.append({
            "name": row["name"],
            "num_evals": int(row["num_evals"]),
            "lambda_max": float(row["lambda_max"]),
            "alpha": float(row["alpha"]),
            "xmin": float(row["xmin"]),
            "D": float(row["D"]),
            "num_pl_spikes": int(row["num_pl_spikes"]),
            "alpha_weighted": float(row["alpha_weighted"]),
            "powerlaw_alpha": float(pl.power_law.alpha),
        })
        print(f"{row['name']:8s} evals {layers[-1]['num_evals']:4d} alpha {row['alpha']:.6f} "
              f"xmin {row['xmin']:.6g} D {row['D']:.4f} spikes {row['num_pl_spikes']:3d} "
              f"| powerlaw alpha {pl.power_law.alpha:.6f}", file=sys.stderr)
    summary = watcher.get_summary(by_state)
    out = {
        "generator": "crates/spectral/tests/weightwatcher_compare.py",
        "versions": {"weightwatcher": ww.__version__, "powerlaw": getattr(powerlaw, "__version__", "?"),
                     "torch": torch.__version__, "numpy": np.__version__},
        "final_train_loss": loss,
        "mean_alpha": float(summary["alpha"]),
        "mean_alpha_weighted": float(summary["alpha_weighted"]),
        "layers": layers,
    }
    with open(os.path.join(FIXTURES, "ww_small.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
