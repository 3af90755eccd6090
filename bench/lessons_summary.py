"""Summary of bench/lessons: reads the executed notebooks (target/lesson-runs/day04.ipynb, day06-seedK.ipynb) and
PyTorch's JSON lines (pytorch.jsonl), and prints one row per model and side: test accuracy mean ± half the range
over the seeds, the train-test gap, seconds per epoch.

Usage: python bench/lessons_summary.py RUNS_DIR SEEDS
"""

import json
import os
import re
import statistics
import sys


def lines_of(path):
    for cell in json.load(open(path))["cells"]:
        for output in cell.get("outputs", []):
            yield from "".join(output.get("text", [])).splitlines()


RESULT = re.compile(r"^\s*(first model|dropout \+ batch norm \+ weight decay): train ([\d.]+)%, test ([\d.]+)%, gap (-?[\d.]+) points")
TIMING = re.compile(r"^(\d+) epochs in (\d+) s")
DAY04 = re.compile(r"^test accuracy: ([\d.]+)% of")


def candlelit_rows(folder, seeds):
    rows = []
    for seed in range(seeds):
        lines = list(lines_of(f"{folder}/day06-seed{seed}.ipynb"))
        results = [RESULT.match(l) for l in lines if RESULT.match(l)]
        timings = [TIMING.match(l) for l in lines if TIMING.match(l)]
        for model, result, timing in zip(("plain", "regularised"), results, timings):
            rows.append({
                "model": model, "seed": seed, "train_accuracy": float(result[2]) / 100,
                "test_accuracy": float(result[3]) / 100, "epoch_seconds": int(timing[2]) / int(timing[1]),
            })
    return rows


def spread(values):
    return statistics.mean(values), (max(values) - min(values)) / 2


def main():
    folder, seeds = sys.argv[1], int(sys.argv[2])
    ours = candlelit_rows(folder, seeds)
    theirs = [json.loads(l) for l in open(f"{folder}/pytorch.jsonl")]
    print(f"{'Day 6 model':<12} {'side':<10} {'runs':>4} {'test accuracy':>18} {'train-test gap':>15} {'s/epoch':>8}")
    for model in ("plain", "regularised"):
        for side, rows in (("candlelit", ours), ("PyTorch", theirs)):
            sel = [r for r in rows if r["model"] == model and r.get("lesson", "day06") == "day06"]
            if not sel:
                continue
            acc, half = spread([100 * r["test_accuracy"] for r in sel])
            gap = statistics.mean(100 * (r["train_accuracy"] - r["test_accuracy"]) for r in sel)
            secs = statistics.mean(r["epoch_seconds"] for r in sel)
            print(f"{model:<12} {side:<10} {len(sel):>4} {acc:>11.2f} ± {half:.2f} {gap:>15.2f} {secs:>8.1f}")
    day04_book = f"{folder}/day04.ipynb"
    day04 = [DAY04.search(l) for l in lines_of(day04_book) if DAY04.search(l)] if os.path.exists(day04_book) else []
    torch04 = [100 * r["test_accuracy"] for r in theirs if r["lesson"] == "day04"]
    if day04 and torch04:
        print(f"Day 4 logistic: candlelit test accuracy {day04[-1][1]}%, PyTorch {statistics.mean(torch04):.2f}%")


if __name__ == "__main__":
    main()
