"""Do the training curves of two runs of the same zoo agree within seed-to-seed noise?

    python bench/compare_curves.py ZOO_A ZOO_B [--metric test_acc]

Reads each zoo's index_epochs.csv (one row per model and epoch; plain csv module, no pandas).
For every (load, temperature) cell prints the largest |A − B| of the metric over the epochs of
each model (the same model id in both zoos: same seed, same initialization), against the
largest |seed i − seed j| within zoo A over the same epochs: the noise between seeds. The last
line is the verdict over all cells: worst run-to-run difference and worst seed-to-seed one.
"""
import argparse
import csv
import itertools
import math
import os
from collections import defaultdict


def curves(zoo, metric):
    """{model_id: (cell, seed, {epoch: value})} from index_epochs.csv."""
    out = {}
    with open(os.path.join(zoo, "index_epochs.csv"), newline="") as f:
        for row in csv.DictReader(f):
            if row[metric] == "":
                continue
            cell = (float(row["load_value"]), float(row["temperature_value"]))
            entry = out.setdefault(row["model_id"], (cell, int(row["seed"]), {}))
            entry[2][int(row["epoch"])] = float(row[metric])
    return out


def largest_gap(a, b):
    """Largest difference over the epochs both curves have; inf where only one is finite (a
    diverged run differs from a finite one by more than any number)."""
    epochs = sorted(set(a) & set(b))
    gaps = [abs(a[e] - b[e]) if math.isfinite(a[e]) and math.isfinite(b[e])
            else (0.0 if math.isfinite(a[e]) == math.isfinite(b[e]) else math.inf) for e in epochs]
    return max(gaps) if gaps else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zoo_a")
    parser.add_argument("zoo_b")
    parser.add_argument("--metric", default="test_acc")
    args = parser.parse_args()
    a, b = curves(args.zoo_a, args.metric), curves(args.zoo_b, args.metric)
    by_cell = defaultdict(list)
    for model_id, (cell, seed, values) in a.items():
        by_cell[cell].append((seed, model_id, values))
    worst_runs, worst_seeds = 0.0, 0.0
    print(f"metric {args.metric}: per cell, max over epochs of |A - B| (same model) and |seed - seed| (zoo A)")
    print("load temperature | A vs B (per seed) | seed vs seed")
    for cell in sorted(by_cell):
        members = sorted(by_cell[cell])
        runs = [largest_gap(values, b[model_id][2]) for _, model_id, values in members if model_id in b]
        seeds = [largest_gap(x[2], y[2]) for x, y in itertools.combinations(members, 2)]
        worst_runs = max([worst_runs] + runs)
        worst_seeds = max([worst_seeds] + seeds)
        fmt = lambda xs: ", ".join(f"{x:.4f}" for x in xs) or "-"
        print(f"{cell[0]:g} {cell[1]:g} | {fmt(runs)} | {fmt(seeds)}")
    print(f"worst A vs B {worst_runs:.4f}; worst seed vs seed {worst_seeds:.4f}")


if __name__ == "__main__":
    main()
