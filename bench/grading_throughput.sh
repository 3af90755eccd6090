#!/usr/bin/env bash
# Grading throughput: copies of a solved lesson notebook graded with the sandbox at --jobs 1 and 2, and without it
# (CANDLELIT_SANDBOX=off) at --jobs 1, in one run on this machine. Each line: seconds for the batch (the one prelude
# load before it included), submissions per minute, and the points each got (all full marks, or the run is wrong).
# Usage: bench/grading_throughput.sh [LESSON_STEM] [COPIES] [NAME=VALUE parameters...]
#   e.g. bench/grading_throughput.sh day06-ann-fashion-mnist 4 epochs=1 train_limit=2000
set -euo pipefail
cd "$(dirname "$0")/.."
lesson=${1:-day02-tensor-operations}
copies=${2:-4}
shift $(($# < 2 ? $# : 2))
params=()
for p in "$@"; do params+=(-p "$p"); done
bin=target/debug/candlelit
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" lessons solved "$work/solved" >/dev/null
for n in $(seq 1 "$copies"); do cp "$work/solved/$lesson.ipynb" "$work/learner-$n.ipynb"; done
run() {
  local label=$1 jobs=$2 sandbox=$3 t0 t1
  t0=$(date +%s.%N)
  CANDLELIT_SANDBOX=$sandbox "$bin" grade --lesson "lessons/$lesson.md" --jobs "$jobs" "${params[@]}" \
    --json "$work/$label.json" "$work"/learner-*.ipynb >/dev/null 2>"$work/$label.log"
  t1=$(date +%s.%N)
  python3 - "$label" "$t0" "$t1" "$copies" "$work/$label.json" <<'PY'
import json, sys
label, t0, t1, copies, report = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
points = [s["points"] for s in json.load(open(report))["submissions"]]
seconds = t1 - t0
print(f"{label:>18}: {seconds:6.1f} s for {copies} submissions, {60 * copies / seconds:5.2f} per minute, points {points}")
PY
}
echo "$lesson, $copies copies of the solved notebook, ${params[*]:-no parameters}, $(nproc) cores"
run sandbox-jobs-1 1 auto
run sandbox-jobs-2 2 auto
run no-sandbox-jobs-1 1 off
