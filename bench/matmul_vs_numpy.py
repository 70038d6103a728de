#!/usr/bin/python3
"""float32 matmul: troupe's CPU GEMM against numpy (OpenBLAS), side by side.

Runs build/bench/matmul_bench (Google Benchmark; build it first with
`cmake --build build --target matmul_bench`) and numpy's np.matmul on the same square
float32 sizes and thread counts, interleaved round by round so that both see the same
machine load, and prints per (n, threads) the median GFLOP/s of each and the median of
the per-round ratios troupe / numpy.

    /usr/bin/python3 bench/matmul_vs_numpy.py [--build-dir build] [--rounds 5]

numpy runs in worker processes (one per thread count) of --python, by default Debian's
/usr/bin/python3 with python3-numpy on OpenBLAS. OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
are removed from the workers' environment so that OpenBLAS picks its own kernel for this
CPU; OPENBLAS_NUM_THREADS and OMP_NUM_THREADS are set to the thread count. Each worker
reports the BLAS library it loaded and the OpenBLAS core it uses.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

# The numpy side, run as `python3 -c WORKER`: prints one JSON line describing itself, then
# answers each request line "n min_time" with one line holding GFLOP/s.
WORKER = r'''
import ctypes, json, sys, time
import numpy as np

def blas_info():
    info = {"numpy": np.__version__}
    libs = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if ("blas" in path or "lapack" in path) and path not in libs:
                libs.append(path)
    info["loaded"] = libs
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            info["openblas_core"] = lib.openblas_get_corename().decode()
            info["openblas_threads"] = lib.openblas_get_num_threads()
            lib.openblas_get_config.restype = ctypes.c_char_p
            info["openblas_config"] = lib.openblas_get_config().decode()
            break
        except (OSError, AttributeError):
            continue
    try:
        import threadpoolctl
        info["threadpoolctl"] = threadpoolctl.threadpool_info()
    except ImportError:
        info["threadpoolctl"] = "not installed"
    return info

# Warm up (thread start-up, first-touch faults) so the first request is not penalized.
w = np.ones((256, 256), np.float32)
np.matmul(w, w)
print(json.dumps(blas_info()), flush=True)
rng = np.random.default_rng(0)
for line in sys.stdin:
    n, min_time = int(line.split()[0]), float(line.split()[1])
    a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    c = np.empty((n, n), np.float32)
    np.matmul(a, b, out=c)
    iterations, start = 0, time.perf_counter()
    while True:
        np.matmul(a, b, out=c)
        iterations += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            break
    print(2.0 * n ** 3 * iterations / elapsed / 1e9, flush=True)
'''


class numpy_worker:
    """A numpy process with OpenBLAS limited to `threads` threads."""

    def __init__(self, python, threads):
        env = dict(os.environ)
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
        env["OPENBLAS_NUM_THREADS"] = str(threads)
        env["OMP_NUM_THREADS"] = str(threads)
        self.proc = subprocess.Popen([python, "-c", WORKER], env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.info = json.loads(self.proc.stdout.readline())

    def gflops(self, n, min_time):
        self.proc.stdin.write(f"{n} {min_time}\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def troupe_gflops(binary, n, threads, min_time):
    """GFLOP/s of one BM_gemm_f32/n/threads run: 2 n^3 / mean wall time per product."""
    out = subprocess.run(
        [binary, f"--benchmark_filter=^BM_gemm_f32/{n}/{threads}/real_time$",
         f"--benchmark_min_time={min_time}", "--benchmark_format=json"],
        check=True, capture_output=True, text=True).stdout
    runs = json.loads(out)["benchmarks"]
    if len(runs) != 1:
        sys.exit(f"matmul_bench ran {len(runs)} benchmarks for n={n} threads={threads}")
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[runs[0]["time_unit"]]
    return 2.0 * n ** 3 / (runs[0]["real_time"] * scale) / 1e9


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--python", default="/usr/bin/python3",
                        help="interpreter with numpy on OpenBLAS (default: Debian's)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 2048])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.3,
                        help="seconds each measurement runs for")
    args = parser.parse_args()

    binary = os.path.join(args.build_dir, "bench", "matmul_bench")
    if not os.access(binary, os.X_OK):
        sys.exit(f"{binary} not found: run `cmake --build {args.build_dir} --target "
                 "matmul_bench` first")

    print(f"cpu: {cpu_model()}, {os.cpu_count()} hardware threads")
    workers = {t: numpy_worker(args.python, t) for t in args.threads}
    for t, w in workers.items():
        info = dict(w.info)
        config = info.pop("openblas_config", "")
        print(f"numpy worker, {t} thread(s): {json.dumps(info)}")
        if config:
            print(f"  openblas config: {config}")

    # results[(n, t)] = list of (troupe, numpy) per round. Each round measures every
    # configuration once, alternating which side goes first.
    results = {(n, t): [] for n in args.sizes for t in args.threads}
    for r in range(args.rounds):
        for n in args.sizes:
            for t in args.threads:
                if r % 2 == 0:
                    ours = troupe_gflops(binary, n, t, args.min_time)
                    theirs = workers[t].gflops(n, args.min_time)
                else:
                    theirs = workers[t].gflops(n, args.min_time)
                    ours = troupe_gflops(binary, n, t, args.min_time)
                results[(n, t)].append((ours, theirs))
                print(f"  round {r + 1}/{args.rounds} n={n} threads={t}: troupe {ours:.1f}, "
                      f"numpy {theirs:.1f} GFLOP/s", file=sys.stderr, flush=True)
    for w in workers.values():
        w.close()

    print(f"\nfloat32 matmul, GFLOP/s = 2 n^3 / wall time; medians of {args.rounds} "
          "interleaved rounds")
    print(f"{'n':>6} {'threads':>8} {'troupe':>10} {'numpy':>10} {'ratio':>7}  ratio range")
    for (n, t), pairs in results.items():
        ours = statistics.median(p[0] for p in pairs)
        theirs = statistics.median(p[1] for p in pairs)
        ratios = [p[0] / p[1] for p in pairs]
        print(f"{n:>6} {t:>8} {ours:>10.1f} {theirs:>10.1f} {statistics.median(ratios):>7.2f}"
              f"  {min(ratios):.2f}-{max(ratios):.2f}")


if __name__ == "__main__":
    main()
