#!/usr/bin/python3
"""Statistics over a CSV: `troupe stats` against pandas and TensorFlow Data Validation.

    /usr/bin/python3 bench/stats_vs_peers.py [--build-dir build] [--rows 1000000] [--rounds 3]

Generates (once, in /tmp) a CSV of --rows rows with 10 numeric and 5 categorical columns,
then, round after round, times:
  troupe: build/bin/troupe stats --data FILE --out OUT.json (2 threads)
  pandas: read_csv, describe(), nunique(), value_counts() of each categorical column
  tfdv:   tfdv.generate_statistics_from_csv(FILE)
and prints rows/s (median of rounds) and the medians of the per-round ratios. pandas and
TFDV run in the virtual environment bench/.venv-tfdv, created by this script on first
use (never by CI); when TFDV cannot be installed there, pip's error is printed and pandas
is measured alone (docs/benchmarks.md, "Statistics").
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, ".venv-tfdv")

PANDAS = r'''
import sys, time, pandas as pd
t = time.perf_counter()
df = pd.read_csv(sys.argv[1])
df.describe()
df.nunique()
for c in df.columns:
    if df[c].dtype == object:
        df[c].value_counts()
print(time.perf_counter() - t)
'''

TFDV = r'''
import os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow_data_validation as tfdv
t = time.perf_counter()
tfdv.generate_statistics_from_csv(sys.argv[1])
print(time.perf_counter() - t)
'''


def make_csv(path, rows):
    if os.path.exists(path):
        return
    rng = random.Random(7)
    cats = [[f"c{j}_{k}" for k in range(n)] for j, n in enumerate((3, 10, 100, 1000, 20000))]
    with open(path + ".tmp", "w") as f:
        f.write(",".join([f"x{i}" for i in range(10)] + [f"s{j}" for j in range(5)]) + "\n")
        for _ in range(rows):
            nums = [f"{rng.gauss(0, 1):.6f}" if i % 2 else str(rng.randrange(1000))
                    for i in range(10)]
            strs = [rng.choice(c) for c in cats]
            f.write(",".join(nums + strs) + "\n")
    os.rename(path + ".tmp", path)


# TFDV 1.16.1 has wheels for CPython 3.9-3.11, but on 3.11 pip backtracks into building an
# old pyarrow from source and fails; on 3.10 with these pins it installs from wheels (the set
# pip resolved on 2026-12-03). pandas 1.5.3 is the pandas TFDV 1.16.1 accepts.
PINS = ["tensorflow-data-validation==1.16.1", "tfx-bsl==1.16.1", "tensorflow-metadata==1.16.1",
        "tensorflow==2.16.2", "pyarrow==10.0.1", "apache-beam==2.59.0", "pandas==1.5.3",
        "numpy==1.26.4"]


def find_python310():
    """A CPython 3.10 for the venv: python3.10 on PATH or one of pyenv's."""
    import glob
    import shutil
    for c in [shutil.which("python3.10")] + sorted(glob.glob(
            os.path.expanduser("~/.pyenv/versions/3.10*/bin/python3.10"))):
        if c and os.path.exists(c):
            return c
    return None


def ensure_venv(want_tfdv):
    """The venv's python and whether TFDV imports there. Creates bench/.venv-tfdv from a
    Python 3.10 (else /usr/bin/python3, which gets pandas only) and installs the peers once;
    when TFDV cannot be installed, prints pip's error and goes on with pandas alone."""
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        base = find_python310() or "/usr/bin/python3"
        subprocess.run([base, "-m", "venv", VENV], check=True)

    def has(module):
        return subprocess.run([py, "-c", f"import {module}"], capture_output=True).returncode == 0

    if want_tfdv and not has("tensorflow_data_validation"):
        print("installing tensorflow-data-validation and pandas into bench/.venv-tfdv (once)",
              flush=True)
        r = subprocess.run([py, "-m", "pip", "install", "-q", "--prefer-binary"] + PINS,
                           capture_output=True, text=True)
        if r.returncode:
            tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-12:])
            print(f"TFDV could not be installed; measuring pandas only. pip said:\n{tail}",
                  flush=True)
    if not has("pandas"):
        print("installing pandas into bench/.venv-tfdv (once)", flush=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "pandas"], check=True)
    return py, want_tfdv and has("tensorflow_data_validation")


def timed(cmd):
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if out.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return wall, out.stdout


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default="build")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--skip-tfdv", action="store_true")
    a = p.parse_args()
    data = f"/tmp/troupe_stats_bench_{a.rows}.csv"
    make_csv(data, a.rows)
    py, tfdv = ensure_venv(not a.skip_tfdv)
    troupe = os.path.join(a.build_dir, "bin", "troupe")
    times = {"troupe": [], "pandas": [], "tfdv": []}
    for r in range(a.rounds):
        # Whole-process wall time for troupe (it includes start-up); the peers time their
        # own work after importing their libraries.
        w, _ = timed([troupe, "stats", "--data", data, "--out", "/tmp/troupe_stats_bench.json",
                      "--threads", "2"])
        times["troupe"].append(w)
        _, out = timed([py, "-c", PANDAS, data])
        times["pandas"].append(float(out.split()[-1]))
        if tfdv:
            _, out = timed([py, "-c", TFDV, data])
            times["tfdv"].append(float(out.split()[-1]))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items() if v),
              flush=True)
    print(f"\n{a.rows} rows, 10 numeric + 5 categorical columns")
    print(f"{'system':<8}{'seconds':>10}{'rows/s':>12}{'troupe x':>10}")
    for k, v in times.items():
        if not v:
            continue
        ratio = statistics.median([x / t for x, t in zip(v, times["troupe"])])
        print(f"{k:<8}{statistics.median(v):>10.2f}{a.rows / statistics.median(v):>12.0f}"
              f"{ratio:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
