#!/usr/bin/python3
"""Training throughput: troupe against PyTorch and TensorFlow, side by side.

    /usr/bin/python3 bench/train_vs_peers.py [--build-dir build] [--rounds 3] [--seconds 1.5]

For each round, and each setting (1 thread; 2 threads; 2 threads while another process
keeps one core busy), runs build/bench/train_bench (troupe), PyTorch (Debian's
python3-torch, run by /usr/bin/python3) and TensorFlow (PyPI's tensorflow-cpu in the
virtual environment bench/.venv, created by this script on first use; never by CI) one
after the other on every configuration of bench/train_peers.py, and prints examples/s
(medians over rounds) and the medians of the per-round ratios troupe / peer. The last
table shows how much of its 1-thread speed each system keeps with 2 threads on a loaded
machine.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, ".venv")
CONFIGS = ["mlp_b32_sgd", "mlp_b32_adam", "mlp_b256_sgd", "mlp_b256_adam",
           "wd_b512_adagrad", "wd_b512_adam"]
SETTINGS = [("1 thread", 1, False), ("2 threads", 2, False), ("2 threads, 1 core busy", 2, True)]


def ensure_peers():
    """Debian's torch for /usr/bin/python3; tensorflow-cpu from PyPI in bench/.venv."""
    if subprocess.run(["/usr/bin/python3", "-c", "import torch"], capture_output=True).returncode:
        sys.exit("PyTorch is missing: apt-get install python3-torch (scripts/install-deps --bench)")
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        print("creating bench/.venv for tensorflow-cpu (once)", flush=True)
        subprocess.run(["/usr/bin/python3", "-m", "venv", VENV], check=True)
    if subprocess.run([py, "-c", "import tensorflow"], capture_output=True).returncode:
        print("installing tensorflow-cpu into bench/.venv (once)", flush=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "tensorflow-cpu"], check=True)
    return py


def run(cmd, threads):
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return {r["config"]: r["examples_per_s"] for r in rows}


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default="build")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=1.5)
    p.add_argument("--configs", default=",".join(CONFIGS))
    a = p.parse_args()
    configs = a.configs.split(",")
    tf_python = ensure_peers()
    troupe = os.path.join(a.build_dir, "bench", "train_bench")
    if not os.path.exists(troupe):
        sys.exit(f"{troupe} is missing: cmake --build {a.build_dir} --target train_bench")
    peers = os.path.join(HERE, "train_peers.py")
    systems = {
        "troupe": lambda t: [troupe, "--threads", str(t)],
        "torch": lambda t: ["/usr/bin/python3", peers, "--system", "torch", "--threads", str(t)],
        "tf": lambda t: [tf_python, peers, "--system", "tf", "--threads", str(t)],
    }
    common = ["--configs", ",".join(configs), "--seconds", str(a.seconds)]
    # results[setting][system][config] = [examples/s per round]
    results = {s[0]: {name: {c: [] for c in configs} for name in systems} for s in SETTINGS}
    for r in range(a.rounds):
        for label, threads, loaded in SETTINGS:
            busy = None
            if loaded:
                busy = subprocess.Popen(["/usr/bin/python3", "-c", "while True: pass"])
            try:
                for name, cmd in systems.items():
                    got = run(cmd(threads) + common, threads)
                    for c in configs:
                        results[label][name][c].append(got[c])
                    print(f"round {r + 1}/{a.rounds}, {label}, {name}: " +
                          ", ".join(f"{c} {got[c]:.0f}" for c in configs), flush=True)
            finally:
                if busy:
                    busy.kill()
                    busy.wait()

    def med(xs):
        return statistics.median(xs)

    print("\nexamples/s (median of rounds) and troupe's ratio to each peer "
          "(median of per-round ratios)")
    for label, _, _ in SETTINGS:
        print(f"\n{label}:")
        print(f"{'config':<18}{'troupe':>10}{'torch':>10}{'tf':>10}{'x torch':>9}{'x tf':>7}"
              f"{'x best':>8}")
        for c in configs:
            t = results[label]["troupe"][c]
            ratios = {n: med([x / y for x, y in zip(t, results[label][n][c])])
                      for n in ("torch", "tf")}
            best = med([x / max(y, z) for x, y, z in zip(t, results[label]["torch"][c],
                                                         results[label]["tf"][c])])
            print(f"{c:<18}{med(t):>10.0f}{med(results[label]['torch'][c]):>10.0f}"
                  f"{med(results[label]['tf'][c]):>10.0f}{ratios['torch']:>9.2f}"
                  f"{ratios['tf']:>7.2f}{best:>8.2f}")
    print("\nspeed kept with 2 threads while one core is busy, relative to 1 thread "
          "(median of per-round ratios)")
    print(f"{'config':<18}{'troupe':>8}{'torch':>8}{'tf':>8}")
    for c in configs:
        kept = {n: med([x / y for x, y in zip(results[SETTINGS[2][0]][n][c],
                                              results[SETTINGS[0][0]][n][c])])
                for n in systems}
        print(f"{c:<18}{kept['troupe']:>8.2f}{kept['torch']:>8.2f}{kept['tf']:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
