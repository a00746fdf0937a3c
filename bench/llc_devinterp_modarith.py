"""devinterp's LLC on trained modular-arithmetic models of a phasezoo zoo, against phasezoo's.

For each model named: its checkpoint (model.safetensors, no pickle) is loaded into the PyTorch
module of crates/train/src/modarith/net.rs (logits = decoder.net(E[a] + E[b]), the decoder
Linear, Tanh, ..., Linear), and devinterp 1.3.2's `estimate_learning_coeff_with_summary` (the
`SGLD` optimizer, `default_nbeta`) samples the LLC on what phasezoo's `llc` metric samples: the
mean cross-entropy over the model's own training pairs, one full batch (batch size = those
pairs, so nbeta = n / ln n), with the zoo's `[metrics.llc]` epsilon, gamma, chains, draws and
burn-in, in the checkpoint's dtype, on the CPU, once per --seeds entry. The split is drawn from
a ChaCha8 stream, so phasezoo exports it (an ignored test in crates/train/src/modarith/tests.rs),
with each model's metric loss at the checkpoint. The script first checks the rebuilt model:
its train loss against that export, its validation loss and train accuracy against result.json.

  phasezoo train examples/grokking-modadd.toml --out Z --device cpu --no-plot
  # append to Z/zoo.toml: [metrics.llc] epsilon = 1e-4, gamma = 100, chains = 4, draws = 2000,
  #                       burn_in = 500, seed = 0   (nbeta unset: n / ln n)
  phasezoo metrics Z --only llc --epochs 40 --device cpu
  PZ_MODARITH_ZOO=Z PZ_MODARITH_EPOCH=40 PZ_MODARITH_OUT=/tmp/pairs.safetensors \\
      cargo test --release -p pz-train export_train_pairs_for_devinterp -- --ignored
  PYTHONPATH=<devinterp 1.3.2> python bench/llc_devinterp_modarith.py --zoo Z --epoch 40 \\
      --pairs /tmp/pairs.safetensors --model ID [--model ID ...] --seeds 0 1 2 3 4

Prints JSON lines: the checks, each devinterp run, and per model phasezoo's llc +- its standard
error (llc_std / sqrt(chains)) against the mean of devinterp's runs +- theirs, and z, the
difference in joint standard errors.

Recorded 2026-12-07 (examples/grokking-modadd.toml trained on the CPU, epoch 40, float32;
eps = 1e-4, gamma = 100, 4 chains x 2,000 draws, 500 burn-in, nbeta = 317 / ln 317 = 55.045 on
both sides; devinterp 1.3.2, torch 2.11, --seeds 0 1 2; each devinterp run ~30 s on one core).
Rebuilt model vs phasezoo: train loss within 4e-12, val loss within one float32 ulp (5e-7),
accuracies equal (to float32 rounding).
  model (wd, dec_lr, seed; phase)          phasezoo llc +- se   devinterp mean +- se   z
  12bd1078b60ea9aa (3, 1e-2, 1; val 1.00)   92.97 +- 1.01       93.80 +- 0.56          -0.72
  85e1772cb7678845 (0, 1e-2, 0; val 0.52)    7.95 +- 0.14        8.21 +- 0.12          -1.42
  92eae35c4b5040a4 (30, 1e-3, 0; val 0.30)  38.43 +- 0.21       37.74 +- 0.35          +1.68
devinterp runs: 93.27 93.21 94.93 / 8.14 8.05 8.45 / 37.86 38.29 37.08.
"""
import argparse
import json
import math
import statistics
import time
import tomllib
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file

class ModArith(torch.nn.Module):
    """net.rs's module: embedding [p, d], decoder.net = Linear, Tanh, ..., Linear."""

    def __init__(self, state):
        super().__init__()
        p, d = state["embedding.weight"].shape
        self.embedding = torch.nn.Embedding(p, d)
        layers, i = [], 0
        while f"decoder.net.{i}.weight" in state:
            out, inp = state[f"decoder.net.{i}.weight"].shape
            layers += [torch.nn.Linear(inp, out), torch.nn.Tanh()]
            i += 2
        self.decoder = torch.nn.Module()
        self.decoder.net = torch.nn.Sequential(*layers[:-1])  # no tanh after the last layer
        self.to(state["embedding.weight"].dtype)
        self.load_state_dict(state, strict=True)

    def forward(self, a, b):
        return self.decoder.net(self.embedding(a) + self.embedding(b))


def evaluate(model, data):
    a, b, target = data
    return torch.nn.functional.cross_entropy(model(a, b), target)


def check(model, pairs, mid, zoo, epoch):
    """Train loss vs phasezoo's metric loss; val loss and train accuracy vs result.json."""
    a, b, t = (pairs[f"{mid}.{k}"] for k in ("a", "b", "target"))
    p = model.embedding.num_embeddings
    with torch.no_grad():
        loss = evaluate(model, (a, b, t)).item()
        train_acc = (model(a, b).argmax(-1) == t).double().mean().item()
        # The validation pairs: every pair not in the training set (net.rs's split).
        is_train = torch.zeros(p * p, dtype=torch.bool)
        is_train[a * p + b] = True
        all_a, all_b = torch.arange(p).repeat_interleave(p), torch.arange(p).repeat(p)
        va, vb = all_a[~is_train], all_b[~is_train]
        val_loss = evaluate(model, (va, vb, (va + vb) % p)).item()
    assert torch.equal(t, (a + b) % p), "the export's targets are not (a + b) mod p"
    results = Path(zoo, "models", mid, "result.json").read_text().splitlines()
    rec = next(r for r in map(json.loads, results) if r["epoch"] == epoch)
    out = {"model": mid, "n_train": len(a), "train_loss": loss,
           "pz_train_loss": pairs[f"{mid}.train_loss"].item(), "val_loss": val_loss,
           "pz_val_loss": rec["val_loss"], "train_acc": train_acc,
           "pz_train_acc": rec["train_acc"], "val_acc": rec["val_acc"]}
    out["ok"] = (abs(loss - out["pz_train_loss"]) < 1e-6 and abs(val_loss - out["pz_val_loss"]) < 1e-6
                 and abs(train_acc - out["pz_train_acc"]) < 1e-6)
    print(json.dumps(out))
    return (a, b, t), out["ok"]


def phasezoo_llc(zoo, mid, epoch):
    """The model's `phasezoo metrics --only llc` numbers at `epoch` (metrics.json: JSON lines)."""
    lines = Path(zoo, "models", mid, "metrics.json").read_text().splitlines()
    rec = next(r for r in map(json.loads, lines) if r["epoch"] == epoch)
    return {k: rec[k] for k in ("llc", "llc_std", "llc_nbeta", "llc_r_hat")}


def devinterp_llc(model, data, cfg, seed):
    from devinterp.optim.sgld import SGLD
    from devinterp.slt.sampler import estimate_learning_coeff_with_summary
    from devinterp.utils import default_nbeta
    from torch.utils.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(*data), batch_size=len(data[0]), shuffle=False)
    nbeta = cfg.get("nbeta", float(default_nbeta(loader)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = estimate_learning_coeff_with_summary(
            model, loader, evaluate=evaluate, sampling_method=SGLD,
            optimizer_kwargs=dict(lr=cfg["epsilon"], localization=cfg["gamma"], nbeta=nbeta),
            num_chains=cfg["chains"], num_draws=cfg["draws"], num_burnin_steps=cfg["burn_in"],
            seed=seed, device="cpu", verbose=False)
    return nbeta, out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--zoo", required=True)
    p.add_argument("--epoch", type=int, required=True)
    p.add_argument("--pairs", required=True, help="the file export_train_pairs_for_devinterp wrote")
    p.add_argument("--model", action="append", required=True, help="a model id (repeatable)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = p.parse_args()
    torch.set_num_threads(1)  # tiny model; idle OpenMP threads slow a shared machine down
    cfg = tomllib.loads(Path(args.zoo, "zoo.toml").read_text())["metrics"]["llc"]
    cfg = {"gamma": 100.0, "chains": 4, "draws": 200, "burn_in": 200, "epsilon": 1e-4, **cfg}
    print(json.dumps({"settings": cfg}))
    pairs = load_file(args.pairs)
    from importlib.metadata import version
    print(json.dumps({"devinterp": version("devinterp"), "torch": torch.__version__}))
    for mid in args.model:
        ckpt = Path(args.zoo, "models", mid, f"checkpoint_{args.epoch:06d}", "model.safetensors")
        model = ModArith(load_file(ckpt))
        data, ok = check(model, pairs, mid, args.zoo, args.epoch)
        if not ok:
            raise SystemExit(f"{mid}: the rebuilt model does not reproduce phasezoo's losses")
        runs = []
        for seed in args.seeds:
            t0 = time.perf_counter()
            nbeta, out = devinterp_llc(model, data, cfg, seed)
            runs.append(out["llc/mean"])
            print(json.dumps({"model": mid, "seed": seed, "nbeta": nbeta, "llc_mean": out["llc/mean"],
                              "llc_std": out["llc/std"], "seconds": round(time.perf_counter() - t0, 1)}))
        pz = phasezoo_llc(args.zoo, mid, args.epoch)  # read last: `phasezoo metrics` may still run
        pz_se = pz["llc_std"] / math.sqrt(cfg["chains"])
        di_mean = statistics.mean(runs)
        di_se = statistics.stdev(runs) / math.sqrt(len(runs)) if len(runs) > 1 else float("nan")
        print(json.dumps({"model": mid, "phasezoo": pz, "phasezoo_se": pz_se, "devinterp_mean": di_mean,
                          "devinterp_se": di_se, "devinterp_runs": len(runs), "nbeta": nbeta,
                          "z": (pz["llc"] - di_mean) / math.hypot(pz_se, di_se)}))


if __name__ == "__main__":
    main()
