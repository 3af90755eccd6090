# Sourced by the lesson benchmarks (bench/lessons, bench/search): the data folders, a checkout of the last
# commit in target/bench-tree with its own build, and `run NOTEBOOK SAVED [-p k=v ...]`, which executes one of the
# checkout's notebooks into $out.
export CANDLELIT_SHARED_DATA=${CANDLELIT_SHARED_DATA:-$(cd .. && pwd)/shared/data}
export CANDLELIT_DATA_MIRROR=${CANDLELIT_DATA_MIRROR:-$CANDLELIT_SHARED_DATA}
export CANDLELIT_DATA=${CANDLELIT_DATA:-$PWD/target/candlelit-data}
# Full runs take an hour; they use a checkout of the last commit in target/bench-tree (binaries, notebooks and the
# prelude the cells compile against), so editing the working tree meanwhile changes nothing they measure.
commit=$(git rev-parse HEAD)
tree=$PWD/target/bench-tree
if [ -d "$tree/.git" ] || [ -f "$tree/.git" ]; then
  git -C "$tree" checkout -q --detach "$commit"
else
  git worktree add -q --detach "$tree" "$commit"
fi
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "==> note: uncommitted changes are not measured; the runs use commit $commit"
fi
echo "==> commit $commit"
export CANDLELIT_PRELUDE=$tree
# The debug binary is enough: cells run against the session cache's optimised Candle either way.
cargo build --locked --manifest-path "$tree/Cargo.toml" --target-dir target/bench-build -p candlelit-kernel --bin candlelit
bin=target/bench-build/debug
out=${out:-target/lesson-runs}
mkdir -p "$out"
run() {
  local name=$1 saved=$2
  shift 2
  local t0=$SECONDS
  "$bin/candlelit" run "$tree/notebooks/$name.ipynb" -o "$out/$saved.ipynb" --timeout 3600 "$@" >/dev/null
  echo "==> $saved: notebook ran in $((SECONDS - t0)) s (session start and cell compiles included)"
}
