"""Where a profiled training step's time goes, from a Kineto Chrome trace (phasezoo's
PHASEZOO_TORCH_PROFILE or bench/gpt2_pytorch.py --profile): the step's wall span, the GPU's busy
time (the union of kernel and copy intervals), and the kernels summed by kind, largest first.

    python3 bench/trace_summary.py TRACE.json [TRACE2.json ...] [--top 25]
"""
import argparse
import json
import re
from collections import defaultdict


def kind_of(name):
    """A kernel's family name: template arguments and launch details dropped."""
    name = re.sub(r"<.*", "", name)
    name = re.sub(r"\(.*", "", name)
    return name[:90]


def busy(intervals):
    """Length of the union of [start, end) intervals."""
    total, end = 0.0, float("-inf")
    for s, e in sorted(intervals):
        if s > end:
            total += e - s
            end = e
        elif e > end:
            total += e - end
            end = e
    return total


def summarize(path, top):
    events = json.load(open(path))["traceEvents"]
    timed = [e for e in events if e.get("ph") == "X" and "dur" in e]
    gpu = [e for e in timed if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    cpu = [e for e in timed if e.get("cat") == "cpu_op"]
    everything = gpu + cpu
    t0 = min(e["ts"] for e in everything)
    t1 = max(e["ts"] + e["dur"] for e in everything)
    by_kind = defaultdict(lambda: [0, 0.0])
    for e in gpu:
        k = by_kind[kind_of(e["name"])]
        k[0] += 1
        k[1] += e["dur"]
    gpu_busy = busy([(e["ts"], e["ts"] + e["dur"]) for e in gpu])
    print(f"== {path}")
    print(f"span {(t1 - t0) / 1e3:.2f} ms, GPU busy {gpu_busy / 1e3:.2f} ms, "
          f"{len(gpu)} kernels/copies, {len(cpu)} CPU operators")
    total = sum(v[1] for v in by_kind.values())
    for name, (n, us) in sorted(by_kind.items(), key=lambda kv: -kv[1][1])[:top]:
        print(f"{us / 1e3:9.3f} ms {100 * us / total:5.1f}% {n:5d}x  {name}")
    ops = defaultdict(lambda: [0, 0.0])
    for e in cpu:
        o = ops[e["name"]]
        o[0] += 1
        o[1] += e["dur"]
    print("CPU operators by inclusive time:")
    for name, (n, us) in sorted(ops.items(), key=lambda kv: -kv[1][1])[:top]:
        print(f"{us / 1e3:9.3f} ms {n:5d}x  {name}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("traces", nargs="+")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    for t in args.traces:
        summarize(t, args.top)


if __name__ == "__main__":
    main()
