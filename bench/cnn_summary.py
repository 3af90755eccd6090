"""Summary of bench/cnn: reads the executed Day 8 notebooks (target/lesson-runs/day08-seedK.ipynb) and PyTorch's
JSON lines (pytorch-cnn.jsonl); prints the CNN's test accuracy (mean, min–max) and seconds per epoch per side, and
the notebooks' MLP beside them.

Usage: python bench/cnn_summary.py RUNS_DIR SEEDS
"""

import json
import re
import statistics
import sys

LINE = re.compile(r"^(CNN|MLP): (\d+) weights, ([\d.]+)% test accuracy, ([\d.]+) s per epoch")


def rows(folder, seeds):
    found = {"CNN": [], "MLP": []}
    for seed in range(seeds):
        for cell in json.load(open(f"{folder}/day08-seed{seed}.ipynb"))["cells"]:
            for output in cell.get("outputs", []):
                for line in "".join(output.get("text", [])).splitlines():
                    m = LINE.match(line)
                    if m and len(found[m[1]]) <= seed:
                        found[m[1]].append((float(m[3]), float(m[4])))
    return found


def show(name, runs):
    acc = [a for a, _ in runs]
    secs = statistics.mean(s for _, s in runs)
    print(f"{name:<18} {len(runs):>4} {statistics.mean(acc):>8.2f}% ({min(acc):.2f}–{max(acc):.2f}) {secs:>9.1f}")


def main():
    folder, seeds = sys.argv[1], int(sys.argv[2])
    ours = rows(folder, seeds)
    theirs = [json.loads(l) for l in open(f"{folder}/pytorch-cnn.jsonl")]
    print(f"{'model, side':<18} {'runs':>4} {'test accuracy (min–max)':>24} {'s/epoch':>9}")
    show("CNN, candlelit", ours["CNN"])
    show("CNN, PyTorch", [(100 * r["test_accuracy"], r["epoch_seconds"]) for r in theirs])
    show("MLP, candlelit", ours["MLP"])


main()
