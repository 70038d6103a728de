#!/usr/bin/python3
"""troupe's anomaly report against TFDV's on the same broken copy of credit_scoring.csv.

    /usr/bin/python3 bench/anomalies_vs_tfdv.py [--build-dir build]

Makes the broken copy of docs/data-validation.md section 3 (an unknown Home value in every
40th row, "unknown" in one Age, Income blank in two rows of three, the Debt column dropped),
then with each system infers a schema from the clean data and validates the broken copy's
statistics against it. Prints both reports as (column, anomaly type) and the differences.
TFDV runs in bench/.venv-tfdv, installed by bench/stats_vs_peers.py (never by CI).
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VENV_PY = os.path.join(HERE, ".venv-tfdv", "bin", "python")

TFDV = r'''
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2
clean, broken = sys.argv[1], sys.argv[2]
schema = tfdv.infer_schema(tfdv.generate_statistics_from_csv(clean))
anomalies = tfdv.validate_statistics(tfdv.generate_statistics_from_csv(broken), schema)
out = []
for name, info in anomalies.anomaly_info.items():
    for r in info.reason:
        out.append([name, anomalies_pb2.AnomalyInfo.Type.Name(r.type), r.description])
for r in anomalies.dataset_anomaly_info.reason:
    out.append(["(dataset)", anomalies_pb2.AnomalyInfo.Type.Name(r.type), r.description])
print(json.dumps(out))
'''


def make_broken(src, dst):
    with open(src, newline="") as f, open(dst, "w", newline="") as g:
        rows = list(csv.reader(f))
        w = csv.writer(g, lineterminator="\n")
        for i, row in enumerate(rows):
            nr = i + 1  # awk's NR
            if nr > 1:
                if nr % 40 == 0:
                    row[2] = "castle"
                if nr == 77:
                    row[4] = "unknown"
                if nr % 3:
                    row[9] = ""
            del row[11]
            w.writerow(row)


def troupe_report(troupe, clean, broken, tmp):
    def run(*args, ok=(0,)):
        r = subprocess.run([troupe, *args], capture_output=True, text=True)
        if r.returncode not in ok:
            sys.exit(f"troupe {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    j = lambda n: os.path.join(tmp, n)
    run("stats", "--data", clean, "--out", j("clean.json"))
    run("schema", "infer", "--stats", j("clean.json"), "--out", j("schema.yaml"))
    run("stats", "--data", broken, "--out", j("broken.json"))
    run("validate", "--stats", j("broken.json"), "--schema", j("schema.yaml"),
        "--out", j("anomalies.json"), ok=(0, 1))
    doc = json.load(open(j("anomalies.json")))
    out = []
    def walk(v):  # every object with a column and an anomaly type, wherever it sits
        if isinstance(v, dict):
            col = v.get("column") or v.get("feature") or v.get("name")
            typ = v.get("type")
            if isinstance(typ, str) and typ.isupper():
                out.append([col or "(dataset)", typ, v.get("description", "")])
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(doc)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default="build")
    a = p.parse_args()
    if not os.path.exists(VENV_PY):
        sys.exit("no bench/.venv-tfdv: run bench/stats_vs_peers.py once to install TFDV")
    clean = os.path.join(ROOT, "data", "credit_scoring.csv")
    with tempfile.TemporaryDirectory() as tmp:
        broken = os.path.join(tmp, "credit_broken.csv")
        make_broken(clean, broken)
        t = troupe_report(os.path.join(a.build_dir, "bin", "troupe"), clean, broken, tmp)
        r = subprocess.run([VENV_PY, "-c", TFDV, clean, broken], capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"TFDV failed:\n{r.stderr[-3000:]}")
        f = json.loads(r.stdout.strip().splitlines()[-1])
    for name, rep in (("troupe", t), ("TFDV", f)):
        print(f"{name}: {len(rep)} anomalies")
        for col, typ, desc in sorted(rep):
            print(f"  {col:<10} {typ:<40} {desc[:110]}")
    ts = {(c, y) for c, y, _ in t}
    fs = {(c, y) for c, y, _ in f}
    print("only troupe:", sorted(ts - fs) or "none")
    print("only TFDV:  ", sorted(fs - ts) or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
