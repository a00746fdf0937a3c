"""A phasezoo language-model zoo spec (bench/lm-*.toml) as bench/gpt2_pytorch.py's settings, so
that both systems of bench/lm-gpu.sh train the same models with the same recipe and budget."""
import json
import sys


def read_toml(path):
    """A zoo spec as a dict: tomllib (Python 3.11+), else a reader of the subset bench specs use
    (sections, `key = number | "string" | [numbers]`, comments)."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        import tomllib
        return tomllib.loads(raw.decode())
    except ImportError:
        pass
    root, table = {}, None
    for line in raw.decode().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            table = root
            for part in line.strip("[]").split("."):
                table = table.setdefault(part.strip(), {})
            continue
        key, value = (x.strip() for x in line.split("=", 1))
        number = value.replace("_", "") if not value.startswith('"') else value  # 2_048 = 2048
        (table if table is not None else root)[key] = json.loads(number)
    return root


def apply_spec(args, path):
    """Set `args` from a phasezoo spec (bench/lm-*.toml): its model, recipe, budget and grid."""
    spec = read_toml(path)
    model, problem, train, grid = spec["model"], spec["problem"], spec["train"], spec["grid"]
    axes = {grid[a]["key"]: [int(v) for v in grid[a]["values"]] for a in ("load", "temperature")}
    widths = axes.get("model.model_dim", [int(model.get("model_dim", 768))])
    batches = axes.get("train.batch_size", [int(train.get("batch_size", 128))])
    unknown = set(axes) - {"model.model_dim", "train.batch_size"}
    if unknown:
        sys.exit(f"error: {path}: grid axes {sorted(unknown)} are not model.model_dim / train.batch_size")
    args.widths, args.batches = ",".join(map(str, widths)), ",".join(map(str, batches))
    args.model_dim, args.batch = widths[0], batches[0]
    args.grid = len(widths) * len(batches) > 1
    args.depth, args.head_dim = int(model.get("depth", 12)), int(model.get("head_dim", 64))
    args.context, args.vocab_size = int(model.get("context", 1024)), int(model.get("vocab_size", 50257))
    args.epochs = int(train["epochs"])
    args.tokens_per_epoch = int(problem.get("tokens_per_epoch", 0))
    args.steps = 0 if args.tokens_per_epoch else int(train.get("steps_per_epoch", 100)) * args.epochs
    args.eval_windows = int(problem.get("eval_windows", 64))
    args.micro_batch = int(train.get("micro_batch", 0))
    args.lr, args.min_lr = float(train["lr"]), float(train.get("min_lr", 0.0))
    args.warmup_steps = int(train.get("warmup_steps", 0))
    args.weight_decay, args.grad_clip = float(train.get("weight_decay", 0.0)), float(train.get("grad_clip", 0.0))
    args.betas, args.eps = tuple(train.get("adam_betas", [0.9, 0.999])), float(train.get("adam_eps", 1e-8))
    args.float32 = train.get("precision", "float32") != "bf16_autocast"
    args.seed = int(grid["seeds"][0])
    if train.get("schedule", "constant") != "cosine":
        sys.exit(f"error: {path}: train.schedule must be cosine here")
