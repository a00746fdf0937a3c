"""devinterp's LLC estimator timed one model at a time over a modular-arithmetic zoo's checkpoints,
the baseline of `phasezoo metrics --only llc --all-epochs` (which samples every model of a
checkpoint epoch at once, batched over the population): issue 21's speed figure.

For each of the first --models models (sorted by id) and each kept checkpoint epoch: the
checkpoint (model.safetensors, no pickle) is loaded into bench/llc_devinterp_modarith.py's
PyTorch module and devinterp 1.3.2's `estimate_learning_coeff_with_summary` runs with the zoo's
`[metrics.llc]` settings, full batch, on --device. The time of an estimate depends on the sizes
only (network, number of training pairs, chains, draws), not on which pairs: the training pairs
here are a seeded draw of round(train_fraction * p^2) pairs, not the model's own split (that is
bench/llc_devinterp_modarith.py's job, which compares the values). Prints JSON lines: each run's
seconds (after one untimed warm-up estimate), then the mean per estimate and the total for all models x epochs (measured when
--models covers the zoo, else extrapolated from the mean; said in the line).

  PYTHONPATH=<devinterp 1.3.2> python bench/llc_speed_devinterp.py --zoo Z --device cuda --models 4
"""
import argparse
import json
import sys
import time
import tomllib
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llc_devinterp_modarith import ModArith, evaluate  # noqa: E402


def estimate(model, data, cfg, device, seed):
    from devinterp.optim.sgld import SGLD
    from devinterp.slt.sampler import estimate_learning_coeff_with_summary
    from devinterp.utils import default_nbeta
    from torch.utils.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(*data), batch_size=len(data[0]), shuffle=False)
    nbeta = cfg.get("nbeta", float(default_nbeta(loader)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimate_learning_coeff_with_summary(
            model, loader, evaluate=evaluate, sampling_method=SGLD,
            optimizer_kwargs=dict(lr=cfg["epsilon"], localization=cfg["gamma"], nbeta=nbeta),
            num_chains=cfg["chains"], num_draws=cfg["draws"], num_burnin_steps=cfg["burn_in"],
            seed=seed, device=device, verbose=False)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--zoo", required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--models", type=int, default=0, help="time this many models (0: all)")
    args = p.parse_args()
    spec = tomllib.loads(Path(args.zoo, "zoo.toml").read_text())
    cfg = {"gamma": 100.0, "chains": 4, "draws": 200, "burn_in": 200, "epsilon": 1e-4, "seed": 0,
           **spec["metrics"]["llc"]}
    prob = spec["problem"]
    n_pairs = prob.get("p", 59) ** 2
    n_train = min(max(round(prob.get("train_fraction", 0.5) * n_pairs), 1), n_pairs - 1)
    from importlib.metadata import version
    print(json.dumps({"settings": cfg, "n_train": n_train, "device": args.device,
                      "devinterp": version("devinterp"), "torch": torch.__version__}))
    models = sorted(d for d in Path(args.zoo, "models").iterdir() if d.is_dir())
    epochs = {m.name: sorted(int(c.name.split("_")[1]) for c in m.glob("checkpoint_*")) for m in models}
    total = sum(len(e) for e in epochs.values())
    timed = models[: args.models] if args.models > 0 else models
    g = torch.Generator().manual_seed(0)
    seconds = []
    warm_up = True  # the first estimate pays one-off costs (CUDA context, kernels): run it untimed
    for m in timed:
        for epoch in epochs[m.name]:
            model = ModArith(load_file(m / f"checkpoint_{epoch:06d}" / "model.safetensors")).to(args.device)
            p_ = model.embedding.num_embeddings
            pick = torch.randperm(p_ * p_, generator=g)[:n_train]
            a, b = pick // p_, pick % p_
            data = tuple(t.to(args.device) for t in (a, b, (a + b) % p_))
            if warm_up:
                estimate(model, data, cfg, args.device, cfg["seed"])
                warm_up = False
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = estimate(model, data, cfg, args.device, cfg["seed"])
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - t0)
            print(json.dumps({"model": m.name, "epoch": epoch, "llc_mean": out["llc/mean"],
                              "seconds": round(seconds[-1], 3)}))
    mean = sum(seconds) / len(seconds)
    print(json.dumps({"estimates_timed": len(seconds), "seconds_per_estimate": round(mean, 3),
                      "estimates_in_zoo": total, "zoo_seconds": round(mean * total, 1),
                      "zoo_seconds_is": "measured" if len(seconds) == total else "extrapolated from the mean"}))


if __name__ == "__main__":
    main()
