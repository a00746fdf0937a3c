"""devinterp's LLC on a fixed linear regression, for comparison with phasezoo's `estimate_llc`.

Problem: y = X w0 + 0.5 * noise, X of n x d standard Gaussians (float64, torch.Generator seeded),
w* the least-squares fit, loss the mean squared error, one full batch. Its LLC is d/2; full-batch
SGLD has the exact expectation E printed below (crates/landscape/src/llc_tests.rs, `expected`:
the discretisation bias of step size eps and the localisation gamma included).

The script writes the problem and the SGLD settings to a safetensors file (x [n, d], y [n, 1],
w_star [d, 1], and 0-d float64 tensors epsilon, gamma, chains, draws, burn_in, seed, batches),
then, if devinterp imports (written against devinterp 1.3.2: `estimate_learning_coeff_with_summary`,
the `SGLD` optimizer, `default_nbeta`; devinterp 2.x is a different, language-model API),
runs its estimator with the same settings and nbeta = default_nbeta(loader) = n / ln n.
phasezoo's number on the same file:

  python bench/llc_devinterp.py --out /tmp/llc_problem.safetensors
  PZ_LLC_PROBLEM=/tmp/llc_problem.safetensors cargo test --release -p pz-landscape \
      llc_on_the_devinterp_bench -- --ignored --nocapture

Both estimates are random (different noise generators); compare them with E and with each
other within a few standard errors (printed). Prints JSON lines.

Recorded 2026-12-06 (defaults: n = 500, d = 6, eps = 5e-4, gamma = 1, 4 chains x 2,000 draws,
200 burn-in, nbeta = 80.456; CPU, float64, devinterp 1.3.2), --seed 0 to 4:
  exact E = 3.042 +- 0.098 per run (d/2 = 3), L(w*) = 0.255323 on both sides
  devinterp: 3.032 3.065 3.071 2.986 2.946  mean 3.020
  phasezoo:  2.890 3.068 3.139 2.799 3.097  mean 2.998
The five-run means differ by 0.021, a third of their standard error (0.062).
"""
import argparse
import json
import math
import warnings

import torch
from safetensors.torch import save_file


def problem(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = x @ torch.randn(d, 1, generator=g, dtype=torch.float64)
    y = y + 0.5 * torch.randn(n, 1, generator=g, dtype=torch.float64)
    w_star = torch.linalg.lstsq(x, y).solution
    return x, y, w_star


def expected(x, nbeta, eps, gamma, draws):
    """Exact mean and standard error of full-batch SGLD's estimate for this quadratic loss."""
    eigs = torch.linalg.eigvalsh(2.0 * x.T @ x / x.shape[0]).tolist()
    mean = var = 0.0
    for lam in eigs:
        c, a = nbeta * lam / 2.0, nbeta * lam + gamma
        v, rho = 1.0 / (a * (1.0 - eps * a / 4.0)), 1.0 - eps * a / 2.0
        mean += c * v
        var += c * c * 2.0 * v * v * (1.0 + rho * rho) / (1.0 - rho * rho)
    return mean, math.sqrt(var / draws)


def devinterp_llc(x, y, w_star, args):
    from devinterp.optim.sgld import SGLD
    from devinterp.slt.sampler import estimate_learning_coeff_with_summary
    from devinterp.utils import default_nbeta
    from torch.utils.data import DataLoader, TensorDataset

    model = torch.nn.Linear(x.shape[1], 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(w_star.T)
    loader = DataLoader(TensorDataset(x, y), batch_size=x.shape[0], shuffle=False)
    nbeta = float(default_nbeta(loader))

    def evaluate(model, data):
        xb, yb = data
        return torch.nn.functional.mse_loss(model(xb), yb)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = estimate_learning_coeff_with_summary(
            model,
            loader,
            evaluate=evaluate,
            sampling_method=SGLD,
            optimizer_kwargs=dict(lr=args.epsilon, localization=args.gamma, nbeta=nbeta),
            num_chains=args.chains,
            num_draws=args.draws,
            num_burnin_steps=args.burn_in,
            seed=args.seed,
            device="cpu",
            verbose=False,
        )
    return nbeta, out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="/tmp/llc_problem.safetensors")
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--d", type=int, default=6)
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--epsilon", type=float, default=5e-4)
    p.add_argument("--gamma", type=float, default=1.0)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--draws", type=int, default=2000)
    p.add_argument("--burn-in", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    # One thread: the problem is tiny, and on a shared 2-core machine idle OpenMP threads
    # spinning beside other jobs made each SGLD step ~30 times slower.
    torch.set_num_threads(1)

    x, y, w_star = problem(args.n, args.d, args.data_seed)
    settings = {k: torch.tensor(float(getattr(args, k)), dtype=torch.float64)
                for k in ["epsilon", "gamma", "chains", "draws", "burn_in", "seed"]}
    save_file({"x": x, "y": y, "w_star": w_star, "batches": torch.tensor(1.0, dtype=torch.float64),
               **settings}, args.out)
    nbeta = args.n / math.log(args.n)
    mean, se = expected(x, nbeta, args.epsilon, args.gamma, args.chains * args.draws)
    init_loss = torch.nn.functional.mse_loss(x @ w_star, y).item()
    print(json.dumps({"problem": args.out, "n": args.n, "d": args.d, "llc_true": args.d / 2, "init_loss": init_loss,
                      "nbeta": nbeta, "expected_llc": mean, "expected_se": se}))
    try:
        from importlib.metadata import version

        import devinterp  # noqa: F401
        devinterp_version = version("devinterp")
    except ImportError as e:
        print(json.dumps({"devinterp": None, "why": str(e)}))
        return
    nbeta, out = devinterp_llc(x, y, w_star, args)
    trace = out["loss/trace"]
    print(json.dumps({"devinterp": devinterp_version, "nbeta": nbeta,
                      "llc_mean": out["llc/mean"], "llc_std": out["llc/std"],
                      "llc_per_chain": [out[f"llc-chain/{i}"] for i in range(args.chains)],
                      "trace_shape": list(trace.shape)}))


if __name__ == "__main__":
    main()
