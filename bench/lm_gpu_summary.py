"""The comparison bench/lm-gpu.sh prints: phasezoo against bench/gpt2_pytorch.py, from the files
that script leaves in its output folder (whatever parts ran).

    python bench/lm_gpu_summary.py OUT_DIR

phasezoo's rate of a model: its training tokens of epochs 2.. over the seconds of those epochs'
steps (result.json's per-epoch `tokens` and `tokens_per_s`; the first epoch pays one-off costs),
the same measure as the PyTorch script's `tokens_per_s`. MFU as gpt2_pytorch.py (nanoGPT's
6N + 12 L H Q T per token against the H100 SXM's 989.5 TFLOP/s dense bf16). A grid's wall time is
the whole process as the shell measured it (start-up, data, every model, compiles, evaluations,
phasezoo's checkpoints), in <name>.wall.
"""
import glob
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_pytorch import H100_BF16_DENSE_FLOPS, flops_per_token  # noqa: E402


def read_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def wall(out, name):
    try:
        with open(os.path.join(out, name + ".wall")) as f:
            return float(f.read())
    except (OSError, ValueError):
        return math.nan


def phasezoo_models(out, name):
    """One dict per model of the zoo copy <name>/<id>/{params,result}.json."""
    rows = []
    for d in sorted(glob.glob(os.path.join(out, name, "*"))):
        try:
            with open(os.path.join(d, "params.json")) as f:
                params = json.load(f)
            records = read_lines(os.path.join(d, "result.json"))
        except OSError:
            continue
        m, t = params["model"], params["train"]
        width, heads = m["model_dim"], m["model_dim"] // m["head_dim"]
        tokens = secs = 0.0
        for prev, rec in zip(records, records[1:]):
            rate = rec.get("tokens_per_s")
            if rec["epoch"] >= 2 and rate:
                n = rec["tokens"] - prev["tokens"]
                tokens, secs = tokens + n, secs + n / rate
        rate = tokens / secs if secs else math.nan
        fpt = flops_per_token(m["vocab_size"], m["context"], width, m["depth"], heads)
        rows.append({
            "model_dim": width, "batch": t.get("batch_size", 128), "tokens_per_s": rate,
            "mfu": rate * fpt / H100_BF16_DENSE_FLOPS, "tokens": records[-1]["tokens"],
            "val_loss": records[-1]["test_loss"], "epochs": records[-1]["epoch"],
        })
    return sorted(rows, key=lambda r: (r["model_dim"], r["batch"]))


def pytorch_models(out, name):
    path = os.path.join(out, name + ".jsonl")
    if not os.path.exists(path):
        return [], None
    lines = read_lines(path)
    models = [r for r in lines if not r.get("grid")]
    grid = next((r for r in lines if r.get("grid")), None)
    return sorted(models, key=lambda r: (r["model_dim"], r["batch"])), grid


def show(x, digits=0):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.{digits}f}"


def main():
    out = sys.argv[1]
    gpu = open(os.path.join(out, "gpu.txt")).read().strip() if os.path.exists(os.path.join(out, "gpu.txt")) else "?"
    print(f"GPU: {gpu}")
    pz, (pt, _) = phasezoo_models(out, "phasezoo-124m"), pytorch_models(out, "pytorch-124m")
    if pz or pt:
        a, b = (pz or [{}])[0], (pt or [{}])[0]
        ratio = a.get("tokens_per_s", math.nan) / b.get("tokens_per_s", math.nan) if a and b else math.nan
        print("(1) GPT-2 124M, context 1024, batch 8, bf16 (tokens/s of epochs 2-5)")
        print(f"    phasezoo {show(a.get('tokens_per_s'))} tokens/s, MFU {show(100 * a.get('mfu', math.nan), 1)}%, "
              f"val loss {show(a.get('val_loss'), 3)}, wall {show(wall(out, 'phasezoo-124m'), 1)} s")
        print(f"    pytorch  {show(b.get('tokens_per_s'))} tokens/s, MFU {show(100 * b.get('mfu', math.nan), 1)}%, "
              f"val loss {show(b.get('val_loss'), 3)}, wall {show(wall(out, 'pytorch-124m'), 1)} s "
              f"(compile {'on' if b.get('compile') else 'off'}, first epoch {show(b.get('first_epoch_s'), 1)} s)")
        print(f"    phasezoo / pytorch = {show(ratio, 3)} (target >= 0.9)")
        variants = [("phasezoo-124m-unfused", "PyTorch's cross-entropy (PHASEZOO_FUSED_CE=0)"),
                    ("phasezoo-124m-shadows", "bf16 shadow weights too (PHASEZOO_BF16_SHADOWS=1)"),
                    # the parts of the first measuring call (fused kernels opt-in then)
                    ("phasezoo-124m-fused", "its fused cross-entropy (PHASEZOO_FUSED_CE=1)"),
                    ("phasezoo-124m-all", "fused cross-entropy and bf16 shadow weights")]
        for name, what in variants:
            found = phasezoo_models(out, name)
            if found:
                u = found[0]
                r = u.get("tokens_per_s", math.nan) / b.get("tokens_per_s", math.nan) if b else math.nan
                print(f"    phasezoo with {what}: {show(u.get('tokens_per_s'))} tokens/s, "
                      f"MFU {show(100 * u.get('mfu', math.nan), 1)}%, val loss {show(u.get('val_loss'), 3)}, "
                      f"/ pytorch = {show(r, 3)}")
    pz, (pt, grid) = phasezoo_models(out, "phasezoo-grid"), pytorch_models(out, "pytorch-grid")
    if pz or pt:
        pz_wall, pt_wall = wall(out, "phasezoo-grid"), wall(out, "pytorch-grid")
        print(f"(2) grid of {max(len(pz), len(pt))} models: phasezoo packed vs PyTorch one at a time")
        print("    width batch | phasezoo tok/s (sharing the GPU) | pytorch tok/s (alone), its first epoch s")
        by_cell = {(r["model_dim"], r["batch"]): r for r in pt}
        for r in pz:
            p = by_cell.get((r["model_dim"], r["batch"]), {})
            print(f"    {r['model_dim']:5d} {r['batch']:5d} | {show(r['tokens_per_s']):>12} | "
                  f"{show(p.get('tokens_per_s')):>12}, {show(p.get('first_epoch_s'), 1)}")
        print(f"    phasezoo grid wall {show(pz_wall, 1)} s; pytorch grid wall {show(pt_wall, 1)} s "
              f"(in-process {show(grid and grid['seconds'], 1)} s, without each model's first epoch "
              f"{show(grid and grid['seconds_without_first_epochs'], 1)} s)")
        print(f"    pytorch / phasezoo wall = {show(pt_wall / pz_wall, 2)} (target >= 3); without PyTorch's "
              f"first epochs: {show((grid['seconds_without_first_epochs'] if grid else math.nan) / pz_wall, 2)}")


if __name__ == "__main__":
    main()
