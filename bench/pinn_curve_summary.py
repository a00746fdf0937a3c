#!/usr/bin/env python3
"""Per-cell table of a PINN zoo's mode connectivity after `phasezoo metrics --only mc`: what
issue 23's curve study reads to decide whether a barrier is real.

    python3 bench/pinn_curve_summary.py ZOO [ZOO ...]

Per cell (load, temperature; first seed pair): the endpoints' train loss (the curve at t = 0
and t = 1), mc on train loss along the trained curve and along the straight line (the same
formula, docs/METRICS.md), the barrier as a multiple of the endpoints' mean loss, whether the
curve converged by phasezoo's rule, and the curve's mean data loss (its training loss at random t,
without the weight-decay term) over the 3 epochs ending at a quarter, half and all of its epochs:
still falling by a factor at the end means the bend was still moving.
"""
import json
import pathlib
import sys


def mc(values):
    """½(v0 + vT) − v_u at the t whose value is farthest from the endpoints' mean."""
    mid = 0.5 * (values[0] + values[-1])
    u = max(range(len(values)), key=lambda i: abs(values[i] - mid))
    return mid - values[u]


def data_loss_at(fit, share, k=3):
    """Mean of the k epochs ending at `share` of the curve's training."""
    end = max(k, round(share * len(fit)))
    return sum(fit[end - k : end]) / k


def rows(zoo):
    cells = {}
    for model in sorted((zoo / "models").iterdir()):
        metrics = model / "metrics.json"
        if not metrics.exists():
            continue
        params = json.loads((model / "params.json").read_text())
        key = (params["load"]["value"], params["temperature"]["value"])
        if key in cells:
            continue
        m = json.loads(metrics.read_text())
        d = m.get("curve_diagnostics")
        if not d:
            continue
        curve = d["curve"]["curve_train_loss"][0]
        line = d["line"]["curve_train_loss"][0]
        fit = d["fit_data_loss"][0]
        ends = 0.5 * (curve[0] + curve[-1])
        falls = [data_loss_at(fit, share) for share in (0.25, 0.5, 1.0)]
        cells[key] = (curve[0], curve[-1], mc(curve), mc(line), -mc(curve) / ends if ends > 0 else float("nan"),
                      d["converged"][0], falls, len(fit))
    return params["load"]["name"], params["temperature"]["name"], cells


def main():
    for arg in sys.argv[1:]:
        zoo = pathlib.Path(arg)
        load, temp, cells = rows(zoo)
        print(f"## {zoo}")
        print(f"| {load} | {temp} | ends (train loss) | mc curve | mc line | barrier / ends | conv. | data loss at ¼, ½, end of the curve's epochs |")
        print("|---:|---:|---|---:|---:|---:|---|---|")
        for (lo, te), (a, b, c, li, ratio, conv, falls, n) in sorted(cells.items()):
            falls_s = ", ".join(f"{f:.1e}" for f in falls) + f" ({n} epochs)"
            print(f"| {lo:g} | {te:g} | {a:.2e}, {b:.2e} | {c:.2e} | {li:.2e} | {ratio:.1f} | {'yes' if conv else 'no'} | {falls_s} |")


if __name__ == "__main__":
    main()
