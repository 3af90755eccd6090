"""Summary of bench/search: reads the executed Day 7 notebooks (target/lesson-runs/day07-seedK.ipynb and
day07-seed0-unpruned.ipynb) and prints one row per run and study: best validation accuracy, trials pruned, epochs
run of those asked for, seconds, and the chosen (TPE) model's test accuracy.

Usage: python3 bench/search_summary.py RUNS_DIR SEEDS
"""

import json
import re
import statistics
import sys

STUDY = re.compile(r"^\s*(TPE|random): best ([\d.]+)%, (\d+) of (\d+) trials pruned, (\d+) of (\d+) epochs run, (\d+) s")
TEST = re.compile(r"test accuracy ([\d.]+)% on (\d+) images")


def lines_of(path):
    for cell in json.load(open(path))["cells"]:
        for output in cell.get("outputs", []):
            yield from "".join(output.get("text", [])).splitlines()


def read(path):
    lines = list(lines_of(path))
    studies = {m[1]: m for m in map(STUDY.match, lines) if m}
    tests = [m for m in map(TEST.search, lines) if m]
    return studies, (float(tests[-1][1]) if tests else float("nan"))


def main():
    folder, seeds = sys.argv[1], int(sys.argv[2])
    print(f"{'run':<16} {'study':<7} {'best valid %':>12} {'pruned':>7} {'epochs run':>11} {'seconds':>8} {'test %':>7}")
    best = {"TPE": [], "random": []}
    for name in [f"day07-seed{s}" for s in range(seeds)] + ["day07-seed0-unpruned"]:
        studies, test = read(f"{folder}/{name}.ipynb")
        for study in ("TPE", "random"):
            m = studies[study]
            if not name.endswith("unpruned"):
                best[study].append(float(m[2]))
            print(f"{name:<16} {study:<7} {m[2]:>12} {m[3] + '/' + m[4]:>7} {m[5] + '/' + m[6]:>11} {m[7]:>8} "
                  f"{test if study == 'TPE' else '':>7}")
    for study, values in best.items():
        print(f"{study}: mean best validation accuracy {statistics.mean(values):.2f}% over {len(values)} seeds "
              f"(min {min(values):.2f}, max {max(values):.2f})")


main()
