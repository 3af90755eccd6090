"""Summary of bench/recurrent: per side and model, the validation perplexity after the last epoch (mean, min–max
over seeds) and seconds per epoch; the notebook's held-out QA accuracy per seed; the LSTM's perplexity ratio.

Usage: python bench/recurrent_summary.py OUT_DIR SEEDS
"""

import json
import re
import statistics
import sys


def notebook_lines(path):
    for cell in json.load(open(path))["cells"]:
        for output in cell.get("outputs", []):
            yield from "".join(output.get("text", [])).splitlines()


def main():
    out, seeds = sys.argv[1], int(sys.argv[2])
    ours = {"rnn": [], "lstm": []}
    our_seconds = {"rnn": [], "lstm": []}
    for seed in range(seeds):
        curves, qa = [], None
        for line in notebook_lines(f"{out}/day10-seed{seed}.ipynb"):
            if m := re.match(r"epoch (\d+): validation perplexity ([\d.]+) \((\d+) s\)", line):
                if m.group(1) == "1":
                    curves.append([])
                curves[-1].append((float(m.group(2)), float(m.group(3))))
            if "held-out paraphrases" in line:
                qa = line.strip()
        for kind, curve in zip(("rnn", "lstm"), curves):
            ours[kind].append(curve[-1][0])
            our_seconds[kind] += [s for _, s in curve]
        print(f"seed {seed}: {qa}")
    theirs = {"rnn": [], "lstm": []}
    their_seconds = {"rnn": [], "lstm": []}
    for line in open(f"{out}/pytorch-lm.jsonl"):
        run = json.loads(line)
        theirs[run["kind"]].append(run["perplexity"][-1])
        their_seconds[run["kind"]] += run["seconds_per_epoch"]

    def show(values):
        return f"{statistics.mean(values):.1f} ({min(values):.1f}–{max(values):.1f})"

    for kind in ("rnn", "lstm"):
        print(f"{kind}: candlelit perplexity {show(ours[kind])}, {statistics.mean(our_seconds[kind]):.0f} s/epoch; "
              f"PyTorch {show(theirs[kind])}, {statistics.mean(their_seconds[kind]):.0f} s/epoch")
    ratio = statistics.mean(ours["lstm"]) / statistics.mean(theirs["lstm"])
    print(f"LSTM validation perplexity, candlelit / PyTorch: {ratio:.3f}")


if __name__ == "__main__":
    main()
