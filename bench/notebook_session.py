"""Notebook-session benchmark: the candlelit kernel beside evcxr_jupyter, measured in the same run.

Run through bench/notebook-session, which builds both kernels and writes their kernelspecs. Prints a Markdown
table (and writes it to .candlelit/bench/notebook-session.md).

What is measured, for each kernel, over real Jupyter messages (jupyter_client):
- start: kernel process start -> result of the first cell that uses Candle (the caches are warm: one untimed
  start comes first), median of --starts runs. `candlelit-lab` is the same kernel started the way `candlelit lab`
  starts it: with a standby kernel that has finished loading the prelude (this script starts one before each
  start if none waits, as `lab` does, and waits for it to be ready);
- trivial cell and one-line tensor cell: p50 / p90 of --runs cells, each with different code (no cache hits);
- interrupt: an endless loop is interrupted once it is running; time to the execute_reply, and whether a
  variable defined before survives;
- the 5-epoch MLP from examples/mlp_epochs.rs, timed inside the cell, against the same code as a --release
  binary run here.
"""

import argparse
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager

ROOT = pathlib.Path(__file__).resolve().parent.parent
CANDLE = "0.11.1"

# evcxr starts without the prelude: the same names come from :dep lines (the evcxr way to load Candle).
EVCXR_HEADER = f""":dep candle-core = "={CANDLE}"
:dep candle-nn = "={CANDLE}"
use candle_core::{{DType, Device, Module, Tensor}};
use candle_nn::{{self as nn, loss, Optimizer, VarBuilder, VarMap, SGD as Sgd}};
"""


class Standby:
    """What `candlelit lab` does for its kernels: one standby kernel loading in the background (see
    kernel/src/standby.rs). Kernels started while `active` find it through the environment."""

    def __init__(self):
        folder = pathlib.Path(tempfile.mkdtemp(prefix="candlelit-bench-standby-"))
        self.socket = folder / "standby.sock"
        self.log = folder / "standby.log"
        self.exe = KernelSpecManager().get_kernel_spec("candlelit").argv[0]
        self.env = {"CANDLELIT_STANDBY": str(self.socket), "CANDLELIT_STANDBY_OWNER": str(os.getpid())}

    def waiting(self):
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(self.socket))
            return True
        except OSError:
            return False

    def ensure_ready(self, timeout=900):
        """Starts a standby unless one waits, then waits until one has loaded the prelude."""
        if not self.waiting():
            with open(self.log, "a") as log:
                subprocess.Popen([self.exe, "kernel", "--standby", str(self.socket)], env={**os.environ, **self.env},
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        deadline = time.perf_counter() + timeout
        while True:
            text = self.log.read_text() if self.log.exists() else ""
            if self.waiting() and text.count("standby ready") > text.count("standby taken"):
                return
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no standby became ready; its log:\n{text}")
            time.sleep(0.2)


STANDBY = None

# What candlelit's session sets for the process that runs cells (see worker() in kernel/src/session/mod.rs).
CELL_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "67108864"}


class Kernel:
    def __init__(self, name):
        global STANDBY
        self.name = name
        lab = name == "candlelit-lab"
        self.km = KernelManager(kernel_name="candlelit" if lab else name)
        if lab:
            STANDBY = STANDBY or Standby()
            STANDBY.ensure_ready()
            os.environ.update(STANDBY.env)
        started = time.perf_counter()
        try:
            self.km.start_kernel()
        finally:
            for key in (STANDBY.env if STANDBY else {}):
                os.environ.pop(key, None)
        self.started = started
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)

    def run(self, code, timeout=900, on_stream=None):
        """Runs a cell; returns (seconds, status, stdout text, result text)."""
        t0 = time.perf_counter()
        msg_id = self.kc.execute(code)
        stdout, result, status, idle = "", None, None, False
        while not (idle and status):
            if status is None:
                try:
                    reply = self.kc.get_shell_msg(timeout=0.01)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        status = reply["content"]["status"]
                        elapsed = time.perf_counter() - t0
                        if status == "error":
                            stdout += reply["content"].get("evalue", "")
                except Exception:
                    pass
            try:
                msg = self.kc.get_iopub_msg(timeout=0.01)
            except Exception:
                if time.perf_counter() - t0 > timeout:
                    raise TimeoutError(f"{self.name}: cell did not finish: {code[:60]!r}")
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "stream":
                stdout += msg["content"]["text"]
                if on_stream:
                    on_stream(msg["content"]["text"])
            elif kind == "execute_result":
                result = msg["content"]["data"].get("text/plain")
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
        return elapsed, status, stdout, result

    def stop(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def tensor_cell(i):
    return f"Tensor::ones((2, {i + 3}), DType::F32, &Device::Cpu)?.sum_all()?.to_scalar::<f32>()?"


def header(name):
    return EVCXR_HEADER if name == "evcxr" else ""


def first_cell(name):
    k = Kernel(name)
    _, status, out, result = k.run(header(name) + tensor_cell(0))
    seconds = time.perf_counter() - k.started
    if status != "ok" or result != "6.0":
        raise RuntimeError(f"{name}: first cell failed: {status} {out} {result}")
    return k, seconds


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def interrupt(k):
    k.run("let kept = 7u64;")
    msg_id = k.kc.execute('println!("looping"); let mut n = 0u64; loop { n = n.wrapping_add(1); }')
    # Wait until the loop runs (its first line printed), then interrupt.
    while True:
        msg = k.kc.get_iopub_msg(timeout=600)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            break
    time.sleep(1.0)
    t0 = time.perf_counter()
    k.km.interrupt_kernel()
    while True:
        reply = k.kc.get_shell_msg(timeout=120)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    seconds = time.perf_counter() - t0
    # Give a restarting kernel time to come back before asking for the variable.
    _, status, _, result = k.run("kept", timeout=600)
    return seconds, status == "ok" and result == "7"


def mlp_cell():
    source = (ROOT / "examples" / "mlp_epochs.rs").read_text()
    body = source.split("// cell:begin\n", 1)[1].split("    // cell:end", 1)[0]
    return "\n".join(line[4:] if line.startswith("    ") else line for line in body.splitlines())


def mlp_seconds(text):
    for line in text.splitlines():
        if line.startswith("MLP_SECONDS "):
            return float(line.split()[1])
    raise RuntimeError(f"no MLP_SECONDS line in {text!r}")


def measure(name, args):
    print(f"== {name}: warm-up start (untimed)", flush=True)
    k, _ = first_cell(name)
    k.stop()
    starts = []
    for i in range(args.starts):
        k, seconds = first_cell(name)
        print(f"   start {i + 1}: {seconds:.1f} s", flush=True)
        starts.append(seconds)
        if i + 1 < args.starts:
            k.stop()
    trivial = [k.run(f'println!("{{}}", {i} + 1);')[0] for i in range(args.runs)]
    tensor = [k.run(tensor_cell(i + 1))[0] for i in range(args.runs)]
    print(f"   trivial p50 {percentile(trivial, 0.5):.2f} s, tensor p50 {percentile(tensor, 0.5):.2f} s", flush=True)
    mlps = []
    for _ in range(args.mlp_runs):
        _, status, out, _ = k.run(mlp_cell())
        if status != "ok":
            print(f"   MLP cell failed: {out.strip()[:300]}", flush=True)
            break
        mlps.append(mlp_seconds(out))
    mlp = statistics.median(mlps) if mlps else float("nan")
    print(f"   MLP in a cell: {mlps}", flush=True)
    stop_seconds, kept = interrupt(k)
    print(f"   interrupt: {stop_seconds:.2f} s, variables kept: {kept}", flush=True)
    k.stop()
    return {
        "start": statistics.median(starts),
        "trivial": (percentile(trivial, 0.5), percentile(trivial, 0.9)),
        "tensor": (percentile(tensor, 0.5), percentile(tensor, 0.9)),
        "mlp": mlp,
        "interrupt": stop_seconds,
        "kept": kept,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--mlp-runs", type=int, default=3)
    parser.add_argument("--kernels", default="candlelit,candlelit-lab,evcxr")
    parser.add_argument("--release-example", required=True)
    args = parser.parse_args()

    def release_runs(env):
        return [
            mlp_seconds(subprocess.run([args.release_example], capture_output=True, text=True, check=True,
                                       env={**os.environ, **env}).stdout)
            for _ in range(args.mlp_runs)
        ]

    # Like for like: the release binary with the malloc settings candlelit's session gives the process that runs
    # cells (kernel/src/session/mod.rs); and as a plain `cargo run --release` runs it, for reference.
    releases = release_runs(CELL_MALLOC)
    plain_releases = release_runs({})
    release, plain_release = statistics.median(releases), statistics.median(plain_releases)
    print(f"== release binary: MLP {releases}; with glibc's default malloc settings {plain_releases}", flush=True)
    results = {name: measure(name, args) for name in args.kernels.split(",")}

    lines = [
        f"| figure | " + " | ".join(results) + " |",
        "| --- | " + " | ".join("---" for _ in results) + " |",
        f"| warm start → first Candle cell (median of {args.starts}) | "
        + " | ".join(f"{r['start']:.1f} s" for r in results.values()) + " |",
        f"| trivial cell p50 / p90 ({args.runs} cells) | "
        + " | ".join(f"{r['trivial'][0]:.2f} / {r['trivial'][1]:.2f} s" for r in results.values()) + " |",
        f"| one-line tensor cell p50 / p90 ({args.runs} cells) | "
        + " | ".join(f"{r['tensor'][0]:.2f} / {r['tensor'][1]:.2f} s" for r in results.values()) + " |",
        "| interrupt an endless loop → reply | "
        + " | ".join(f"{r['interrupt']:.2f} s" for r in results.values()) + " |",
        "| variables kept after the interrupt | "
        + " | ".join("yes" if r["kept"] else "no" for r in results.values()) + " |",
        f"| 5-epoch MLP in a cell, median of {args.mlp_runs} (÷ release binary, same malloc settings: {release:.2f} s;"
        f" with glibc defaults: {plain_release:.2f} s) | "
        + " | ".join(
            f"{r['mlp']:.2f} s ({r['mlp'] / release:.2f}×)" if r["mlp"] == r["mlp"] else "fails" for r in results.values()
        )
        + " |",
    ]
    table = "\n".join(lines)
    print(table)
    (ROOT / ".candlelit" / "bench").mkdir(parents=True, exist_ok=True)
    (ROOT / ".candlelit" / "bench" / "notebook-session.md").write_text(table + "\n")


if __name__ == "__main__":
    sys.exit(main())
